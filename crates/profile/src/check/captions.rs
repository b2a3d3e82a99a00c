//! The rules of the caption services a profile declares.

use crate::error::Report;
use crate::wire::CaptionWire;
use crate::CaptionService;

/// The CEA-608 channels a service can be on.
const CHANNELS: [&str; 4] = ["CC1", "CC2", "CC3", "CC4"];
/// Longest caption name a player's menu shows.
const MAX_NAME_CHARS: usize = 64;
/// Longest language tag (BCP 47's longest common form is far shorter).
const MAX_LANGUAGE_CHARS: usize = 35;

/// Checks the `captions` list: one entry per 608 channel, each with a
/// well-formed language tag and a name the manifests can quote.
pub(crate) fn captions(list: Vec<CaptionWire>, report: &mut Report) -> Option<Vec<CaptionService>> {
    let mut out = Some(Vec::with_capacity(list.len()));
    let mut seen_channels: Vec<String> = Vec::new();
    let mut seen_names: Vec<String> = Vec::new();
    for (i, c) in list.into_iter().enumerate() {
        let at = |key: &str| format!("captions[{i}].{key}");
        let channel = match c.channel {
            None => {
                report.push(
                    at("channel"),
                    "missing required key `channel`",
                    "add `channel: CC1` (the 608 channel the source carries the captions on)",
                );
                None
            }
            Some(ch) if CHANNELS.contains(&ch.as_str()) => {
                if seen_channels.contains(&ch) {
                    report.push(
                        at("channel"),
                        format!("{ch} is declared twice"),
                        "declare each channel once",
                    );
                }
                seen_channels.push(ch.clone());
                Some(ch)
            }
            Some(ch) => {
                report.push(
                    at("channel"),
                    format!("`{ch}` is not a CEA-608 channel"),
                    "use CC1, CC2, CC3 or CC4",
                );
                None
            }
        };
        let language = match c.language {
            Some(l) if !is_language_tag(&l) => {
                report.push(
                    at("language"),
                    format!("`{l}` is not a language tag"),
                    "write a BCP 47 tag such as `en`, `es` or `pt-BR`",
                );
                None
            }
            l => Some(l),
        };
        let name = c
            .name
            .or_else(|| language.clone().flatten())
            .or_else(|| channel.clone());
        let name = match name {
            Some(n) if n.trim().is_empty() || n.chars().count() > MAX_NAME_CHARS => {
                report.push(
                    at("name"),
                    "the name must have 1 to 64 characters",
                    "write the name players show in their caption menu, like `English`",
                );
                None
            }
            Some(n) if n.chars().any(|ch| ch == '"' || ch.is_control()) => {
                report.push(
                    at("name"),
                    "the name may not contain `\"` or control characters (the HLS playlist quotes it)",
                    "remove them",
                );
                None
            }
            Some(n) => {
                if seen_names.contains(&n) {
                    report.push(
                        at("name"),
                        format!("the name `{n}` is used twice"),
                        "give each service its own name: players list them by name",
                    );
                }
                seen_names.push(n.clone());
                Some(n)
            }
            None => None,
        };
        match (channel, language, name, out.as_mut()) {
            (Some(channel), Some(language), Some(name), Some(v)) => v.push(CaptionService {
                channel,
                language,
                name,
            }),
            _ => out = None,
        }
    }
    out
}

/// A BCP 47-shaped tag: a 2 to 8 letter language, then subtags of 1 to 8
/// letters or digits, joined by `-`.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    tag.len() <= MAX_LANGUAGE_CHARS
        && (2..=8).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use crate::LadderProfile;

    const BASE: &str =
        "name: t\nvideo:\n  - { name: 360p, width: 640, height: 360, bitrate: 730k }\n";

    fn with(captions: &str) -> Result<LadderProfile, crate::ProfileErrors> {
        LadderProfile::from_yaml("t.yaml", &format!("{BASE}captions:\n{captions}"))
    }

    #[test]
    fn services_are_read_with_their_defaults() {
        let p = with("  - { channel: CC1, language: en, name: English }\n  - { channel: CC3, language: es }\n  - { channel: CC2 }\n").unwrap();
        let names: Vec<&str> = p.captions.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["English", "es", "CC2"]);
        assert_eq!(p.captions[1].language.as_deref(), Some("es"));
        let again = serde_json::to_string(&p).unwrap();
        let back: LadderProfile = serde_json::from_str(&again).unwrap();
        assert_eq!(back, p, "a profile travels with its captions");
        let none = LadderProfile::from_yaml("t.yaml", BASE).unwrap();
        assert!(none.captions.is_empty());
    }

    #[test]
    fn every_bad_service_is_reported() {
        let errors = with(
            "  - { channel: CC5 }\n  - { channel: CC1, language: 'english!' }\n  - { channel: CC1, name: 'say \"hi\"' }\n  - { language: en, nmae: x }\n",
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "captions[0].channel",
            "captions[1].language",
            "captions[2].channel",
            "captions[2].name",
            "captions[3].channel",
            "captions[3].nmae",
        ] {
            assert!(errors.contains(expected), "{expected} in {errors}");
        }
    }
}
