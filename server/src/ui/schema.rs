//! The properties of a chart's `values.schema.json` as table rows: dotted path, type, default
//! and description, walking nested `properties` (bounded in depth and count: the schema is
//! untrusted input).

use serde_json::Value;

/// Deepest nesting shown, and most rows.
const MAX_DEPTH: usize = 6;
const MAX_ROWS: usize = 500;

/// One property.
#[derive(Debug, PartialEq)]
pub(crate) struct Row {
    pub path: String,
    pub kind: String,
    pub default: String,
    pub description: String,
    pub required: bool,
}

/// The rows of `schema`; `Err` with the reason when it is not JSON.
pub(crate) fn rows(schema: &[u8]) -> Result<Vec<Row>, String> {
    let value: Value = serde_json::from_slice(schema).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    walk(&value, "", 0, &mut rows);
    Ok(rows)
}

fn walk(schema: &Value, prefix: &str, depth: usize, rows: &mut Vec<Row>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |r| r.iter().filter_map(Value::as_str).collect());
    for (name, property) in properties {
        if rows.len() >= MAX_ROWS {
            return;
        }
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        rows.push(Row {
            kind: kind(property),
            default: property.get("default").map(|d| d.to_string()).unwrap_or_default(),
            description: property.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
            required: required.contains(&name.as_str()),
            path: path.clone(),
        });
        if depth + 1 < MAX_DEPTH {
            walk(property, &path, depth + 1, rows);
        }
    }
}

fn kind(property: &Value) -> String {
    match property.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ if property.get("enum").is_some() => "enum".to_owned(),
        _ if property.get("$ref").is_some() => "$ref".to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_properties_become_rows() {
        let rows = rows(br#"{"type":"object","required":["image"],"properties":{
            "image":{"type":"object","description":"The image","properties":{"tag":{"type":["string","null"],"default":"1.0"}}},
            "replicas":{"type":"integer","default":1,"description":"How many"}}}"#)
        .unwrap();
        let seen: Vec<(&str, &str, &str, &str, bool)> = rows
            .iter()
            .map(|r| (r.path.as_str(), r.kind.as_str(), r.default.as_str(), r.description.as_str(), r.required))
            .collect();
        assert_eq!(
            seen,
            [
                ("image", "object", "", "The image", true),
                ("image.tag", "string | null", "\"1.0\"", "", false),
                ("replicas", "integer", "1", "How many", false),
            ]
        );
        assert!(super::rows(b"{not json").is_err());
    }
}
