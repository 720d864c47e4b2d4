//! Salesforce record ids: a 3-character key prefix naming the object, 12
//! case-sensitive characters, and a 3-character suffix that encodes the case
//! of the first 15 so that the 18-character form survives case-insensitive
//! systems.

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The `n`th id under `prefix`, in its 18-character form.
pub(super) fn make(prefix: &str, n: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut rest = n;
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    let short = format!("{prefix}5g0{}", String::from_utf8_lossy(&digits));
    let suffix = suffix(&short);
    short + &suffix
}

/// The key prefix of the `n`th custom object: `a00`, `a01`, … `a0z`, `a10`, …
pub(super) fn custom_prefix(n: u32) -> String {
    let n = n as usize;
    format!(
        "a{}{}",
        BASE62[(n / 62) % 62] as char,
        BASE62[n % 62] as char
    )
}

fn suffix(short: &str) -> String {
    short
        .as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0, |acc, (i, _)| acc | (1 << i));
            SUFFIX[bits] as char
        })
        .collect()
}

/// The canonical 18-character form of a 15- or 18-character id, or `None`
/// when it is malformed. An 18-character id in any case names the record
/// whose case its suffix records.
pub(super) fn normalize(id: &str) -> Option<String> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => Some(format!("{id}{}", suffix(id))),
        18 => {
            let (head, tail) = id.split_at(15);
            let mut restored: Vec<u8> = head.bytes().collect();
            for (chunk, code) in tail.bytes().enumerate() {
                let bits = SUFFIX.iter().position(|c| c.eq_ignore_ascii_case(&code))?;
                for (i, b) in restored[chunk * 5..chunk * 5 + 5].iter_mut().enumerate() {
                    *b = if bits & (1 << i) != 0 {
                        b.to_ascii_uppercase()
                    } else {
                        b.to_ascii_lowercase()
                    };
                }
            }
            let head = String::from_utf8(restored).ok()?;
            let suffix = suffix(&head);
            Some(head + &suffix)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{make, normalize};

    #[test]
    fn an_id_is_eighteen_characters_with_its_case_suffix() {
        let id = make("003", 62 * 62 + 10);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("0035g0"));
        assert_eq!(normalize(&id).as_deref(), Some(id.as_str()));
        assert_eq!(normalize(&id[..15]).as_deref(), Some(id.as_str()));
        assert_eq!(normalize(&id.to_lowercase()).as_deref(), Some(id.as_str()));
        assert_eq!(normalize("003-not-an-id"), None);
    }

    #[test]
    fn the_suffix_matches_a_real_salesforce_id() {
        // 001 followed by a documented example id's first 15 characters.
        assert_eq!(
            normalize("001RM000003oLrH").as_deref(),
            Some("001RM000003oLrHYAU")
        );
    }
}
