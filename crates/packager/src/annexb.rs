//! Annex B byte streams (start codes) and length-prefixed NAL units.

/// The NAL units of an Annex B byte stream, without start codes or trailing zeros.
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 2 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                units.push(trim_zeros(&data[s..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        units.push(trim_zeros(&data[s..]));
    }
    units.retain(|u| !u.is_empty());
    units
}

fn trim_zeros(mut nal: &[u8]) -> &[u8] {
    while let [rest @ .., 0] = nal {
        nal = rest;
    }
    nal
}

/// Whether `data` begins with a start code.
pub fn is_annexb(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
}

/// Rewrites an Annex B access unit as 4-byte length-prefixed NAL units (the
/// form MP4 samples carry). Data without a leading start code is returned as is.
pub fn to_length_prefixed(data: &[u8]) -> Vec<u8> {
    if !is_annexb(data) {
        return data.to_vec();
    }
    let units = nal_units(data);
    let mut out = Vec::with_capacity(data.len() + 4);
    for u in units {
        out.extend_from_slice(&(u.len() as u32).to_be_bytes());
        out.extend_from_slice(u);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_and_four_byte_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0,
        ];
        assert_eq!(
            nal_units(&au),
            vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 5]]
        );
        assert_eq!(
            to_length_prefixed(&au),
            vec![0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 3, 0x65, 4, 5]
        );
        assert_eq!(
            to_length_prefixed(&[0, 0, 0, 2, 9, 9]),
            vec![0, 0, 0, 2, 9, 9]
        );
        assert!(nal_units(&[0, 0, 1]).is_empty());
    }
}
