//! Reading a message's properties in their stored encoding, `name \x01 value \x02 ...`,
//! without decoding them into a map.

/// Separates a property name from its value.
pub(crate) const NAME_VALUE_SEPARATOR: u8 = 1;
/// Ends each property.
pub(crate) const PROPERTY_SEPARATOR: u8 = 2;

/// Iterates `(name, value)` pairs like RocketMQ's `MessageDecoder.decodeProperties`:
/// entries end at `\x02` (or the end), the name ends at the entry's first `\x01`,
/// and entries without `\x01` are skipped.
///
/// A plain byte-by-byte split: entries are short (tens of bytes), so a word-at-a-time
/// separator search measured no faster here.
pub(crate) struct Entries<'a> {
    entries: std::slice::Split<'a, u8, fn(&u8) -> bool>,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Entries<'a> {
        fn is_property_end(b: &u8) -> bool {
            *b == PROPERTY_SEPARATOR
        }
        Entries {
            entries: bytes.split(is_property_end as fn(&u8) -> bool),
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        for entry in self.entries.by_ref() {
            if let Some(sep) = entry.iter().position(|&b| b == NAME_VALUE_SEPARATOR) {
                return Some((&entry[..sep], &entry[sep + 1..]));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading spelled out, to check the iterator against.
    fn naive(bytes: &[u8]) -> Vec<(&[u8], &[u8])> {
        bytes
            .split(|&b| b == PROPERTY_SEPARATOR)
            .filter_map(|entry| {
                let sep = entry.iter().position(|&b| b == NAME_VALUE_SEPARATOR)?;
                Some((&entry[..sep], &entry[sep + 1..]))
            })
            .collect()
    }

    #[test]
    fn entries_match_the_naive_split() {
        let cases: &[&[u8]] = &[
            b"",
            b"a\x011\x02",
            b"a\x011",
            b"KEYS\x01order-20261121\x02TAGS\x01TagA\x02\x02junk\x02x\x01y\x01z\x02",
            b"\x00\x00\x00\x00\x00\x00\x00\x00a\x00\x01\x00b\x02\x01\x02",
            b"long-name-longer-than-eight\x01value-also-longer-than-eight\x02",
            b"\x01\x01\x01\x02\x02\x02",
            "ünïcödé\u{1}välüé\u{2}".as_bytes(),
        ];
        for case in cases {
            let got: Vec<_> = Entries::new(case).collect();
            assert_eq!(got, naive(case), "{case:?}");
        }
    }

    #[test]
    fn entries_match_the_naive_split_on_random_bytes() {
        // Deterministic xorshift so the test replays; the seed is printed anyway.
        let seed: u64 = 0x9e37_79b9_7f4a_7c15;
        println!("seed {seed:#x}");
        let mut state = seed;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 6 {
                    0 => 1,
                    1 => 2,
                    2 => 0,
                    3 => 0xff,
                    _ => b'a' + (next() % 26) as u8,
                })
                .collect();
            let got: Vec<_> = Entries::new(&bytes).collect();
            assert_eq!(got, naive(&bytes), "{bytes:?}");
        }
    }
}
