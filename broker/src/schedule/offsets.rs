//! `{root}/config/delayOffset.json`: for every delay level, the next ConsumeQueue offset of its
//! queue in `SCHEDULE_TOPIC_XXXX` to deliver.
//!
//! Apache writes it with fastjson as `{"offsetTable":{1:5,2:0}}`: the level keys are bare
//! integers, which is not strict JSON, so this file is written and read by hand. Reading also
//! accepts quoted keys and ignores other fields (5.x adds `"dataVersion":{...}`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::persist;

/// File name under `{storePathRootDir}/config/`.
pub const DELAY_OFFSET_FILE: &str = "delayOffset.json";

/// Level (1-based) → next queue offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelayOffsetTable {
    pub offsets: BTreeMap<i32, i64>,
}

impl DelayOffsetTable {
    /// Apache's shape: `{"offsetTable":{1:5,2:0}}`.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(20 + self.offsets.len() * 16);
        out.push_str("{\"offsetTable\":{");
        for (i, (level, offset)) in self.offsets.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("{level}:{offset}"));
        }
        out.push_str("}}");
        out
    }

    /// Parses the file's text (see the module doc for what is accepted).
    pub fn decode(text: &str) -> Result<DelayOffsetTable, String> {
        let key = "\"offsetTable\"";
        let at = text
            .find(key)
            .ok_or_else(|| "no \"offsetTable\" field".to_owned())?;
        let rest = text[at + key.len()..].trim_start();
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| "\"offsetTable\" is not followed by ':'".to_owned())?
            .trim_start();
        let rest = rest
            .strip_prefix('{')
            .ok_or_else(|| "\"offsetTable\" is not an object".to_owned())?;
        let end = rest
            .find('}')
            .ok_or_else(|| "\"offsetTable\" object is not closed".to_owned())?;
        let mut table = DelayOffsetTable::default();
        for entry in rest[..end].split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (k, v) = entry
                .split_once(':')
                .ok_or_else(|| format!("offsetTable entry `{entry}` is not `level:offset`"))?;
            let k = k.trim().trim_matches('"');
            let level: i32 = k
                .parse()
                .map_err(|_| format!("offsetTable level `{k}` is not an integer"))?;
            let offset: i64 = v
                .trim()
                .parse()
                .map_err(|_| format!("offsetTable offset `{}` is not an integer", v.trim()))?;
            table.offsets.insert(level, offset);
        }
        Ok(table)
    }

    /// Loads `path` (or its backup); an empty table when neither exists. Blocking.
    pub fn load(path: &Path) -> Result<DelayOffsetTable, String> {
        Ok(persist::load_with_fallback(path, DelayOffsetTable::decode)?.unwrap_or_default())
    }

    /// Writes `path` crash-safely. Blocking.
    pub fn persist(&self, path: &Path) -> std::io::Result<()> {
        persist::write_atomic(path, self.encode().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(i32, i64)]) -> DelayOffsetTable {
        DelayOffsetTable {
            offsets: pairs.iter().copied().collect(),
        }
    }

    #[test]
    fn encodes_in_apaches_shape_and_reads_back() {
        let t = table(&[(2, 0), (1, 5), (18, 123_456_789_012)]);
        let text = t.encode();
        assert_eq!(text, "{\"offsetTable\":{1:5,2:0,18:123456789012}}");
        assert_eq!(DelayOffsetTable::decode(&text).unwrap(), t);
        assert_eq!(
            DelayOffsetTable::decode(&DelayOffsetTable::default().encode()).unwrap(),
            DelayOffsetTable::default()
        );
    }

    #[test]
    fn reads_apache_pretty_and_5x_files() {
        let pretty = "{\n\t\"offsetTable\":{1:7,3:2\n\t}\n}";
        assert_eq!(
            DelayOffsetTable::decode(pretty).unwrap(),
            table(&[(1, 7), (3, 2)])
        );
        let v5 = "{\"dataVersion\":{\"counter\":3,\"timestamp\":1700000000000},\"offsetTable\":{\"1\":9, \"2\" : 4}}";
        assert_eq!(
            DelayOffsetTable::decode(v5).unwrap(),
            table(&[(1, 9), (2, 4)])
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        for (text, needle) in [
            ("{}", "offsetTable"),
            ("{\"offsetTable\":[1,2]}", "not an object"),
            ("{\"offsetTable\":{1:5", "not closed"),
            ("{\"offsetTable\":{x:5}}", "level `x`"),
            ("{\"offsetTable\":{1:five}}", "offset `five`"),
            ("{\"offsetTable\":{15}}", "level:offset"),
        ] {
            let err = DelayOffsetTable::decode(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn persist_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config").join(DELAY_OFFSET_FILE);
        assert_eq!(
            DelayOffsetTable::load(&path).unwrap(),
            DelayOffsetTable::default()
        );
        let t = table(&[(1, 3), (2, 1)]);
        t.persist(&path).unwrap();
        assert_eq!(DelayOffsetTable::load(&path).unwrap(), t);
    }
}
