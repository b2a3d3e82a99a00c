vcl 4.1;

# Varnish in front of the livefleet origin (`livefleet origin`, `livefleet dev`),
# standing in for a CDN edge. It keeps the origin's Cache-Control (max-age=1
# for live playlists, a year for segments), coalesces concurrent misses of an
# object into one origin fetch (Varnish's waiting list), never serves a
# playlist past its lifetime, and revalidates an expired one (a 304 when it
# has not changed). `tests/spike.rs` runs it under 2,000 viewers.
#
#   varnishd -F -f docker/varnish/livefleet.vcl -a :6081 -s malloc,256m
#
# The backend below is the origin; the test replaces its port.

backend origin {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "^/(metrics|time|healthz)") {
        return (pass);
    }
    # Media never depends on cookies or query strings: one cache entry per object.
    unset req.http.Cookie;
    if (req.url ~ "^/(live|vod)/") {
        set req.url = regsub(req.url, "\?.*$", "");
    }
    return (hash);
}

sub vcl_backend_response {
    if (bereq.url ~ "\.(m3u8|mpd)$") {
        # A playlist is never served past its max-age: no grace. It is kept
        # a while longer only to ask the origin whether it changed: the
        # refresh carries its ETag (If-None-Match), and an unchanged
        # playlist comes back as a 304 without a body.
        set beresp.grace = 0s;
        set beresp.keep = 10s;
    }
    if (beresp.status == 404) {
        # A segment asked for a moment early exists a moment later.
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    return (deliver);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
