//! Conversion of raw attribute strings to typed JSON values.
//!
//! Only a component knows the types of its attributes, so the engine calls
//! [`convert`] once it has read the component's description.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

/// The declared type of a component attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    /// Any text, taken as it is.
    String,
    /// A signed 64-bit integer.
    Int,
    /// `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, in any case.
    Bool,
    /// A JSON array, or items separated by commas and/or newlines.
    List,
    /// A JSON object, or `key = value` lines.
    Map,
    /// `host:port` or `[IPv6]:port`, converted to `{"host": …, "port": …}`
    /// (the connect form; the engine resolves it).
    Address,
}

impl AttrType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [AttrType; 6] = [
        AttrType::String,
        AttrType::Int,
        AttrType::Bool,
        AttrType::List,
        AttrType::Map,
        AttrType::Address,
    ];

    /// The name used in WIT descriptions and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Int => "int",
            AttrType::Bool => "bool",
            AttrType::List => "list",
            AttrType::Map => "map",
            AttrType::Address => "address",
        }
    }

    /// What a value of this type looks like, for "expected …" messages.
    pub fn expected(self) -> &'static str {
        match self {
            AttrType::String => "a string",
            AttrType::Int => "an integer",
            AttrType::Bool => "a boolean (true/false, yes/no, on/off, 1/0)",
            AttrType::List => "a list (comma or newline separated, or a JSON array)",
            AttrType::Map => "a map (`key = value` lines, or a JSON object)",
            AttrType::Address => "an address (`host:port`, or `[IPv6]:port`)",
        }
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttrType {
    type Err = String;

    /// Parses `string`, `int`, `bool`, `list`, `map` or `address`.
    fn from_str(s: &str) -> Result<Self, String> {
        AttrType::ALL
            .into_iter()
            .find(|ty| ty.as_str() == s)
            .ok_or_else(|| {
                let mut message = format!(
                    "unknown attribute type `{s}`; expected one of `string`, `int`, `bool`, `list`, `map`, `address`"
                );
                if let Some(close) = crate::did_you_mean(s, AttrType::ALL.map(AttrType::as_str)) {
                    message.push_str(&format!(" (did you mean `{close}`?)"));
                }
                message
            })
    }
}

/// Parses a boolean the way environment files spell them: `true`/`false`,
/// `yes`/`no`, `on`/`off`, `1`/`0`, case-insensitive, surrounding
/// whitespace ignored.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Converts the raw text of an attribute override to a JSON value of the
/// declared type.
///
/// - `string`: the text as it is
/// - `int`: a signed 64-bit integer, surrounding whitespace ignored
/// - `bool`: see [`parse_bool`]
/// - `list`: a JSON array if the text starts with `[`; otherwise the items
///   separated by commas and/or newlines, trimmed, empty items dropped,
///   as strings
/// - `map`: a JSON object if the text starts with `{`; otherwise one
///   `key = value` per line (both trimmed, values as strings; blank lines
///   are skipped; a repeated key is an error)
/// - `address`: `host:port` or `[IPv6]:port` (surrounding whitespace
///   ignored; the port from 1 to 65535) as `{"host": "…", "port": N}`; the
///   host of `[::1]:80` is `::1`. A bare IPv6 address needs the brackets.
///
/// The error says what was expected and what was found, e.g.
/// "expected an integer, got `eighty`"; the caller adds file, line,
/// component and attribute.
///
/// ```
/// use berth_config::{convert, AttrType};
/// assert_eq!(convert(" 8080 ", AttrType::Int).unwrap(), serde_json::json!(8080));
/// assert_eq!(convert("a, b\nc", AttrType::List).unwrap(), serde_json::json!(["a", "b", "c"]));
/// ```
pub fn convert(raw: &str, ty: AttrType) -> Result<Value, String> {
    let mismatch = || format!("expected {}, got `{raw}`", ty.expected());
    match ty {
        AttrType::String => Ok(Value::String(raw.to_owned())),
        AttrType::Int => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| mismatch()),
        AttrType::Bool => parse_bool(raw).map(Value::Bool).ok_or_else(mismatch),
        AttrType::List => {
            let text = raw.trim();
            if text.starts_with('[') {
                match serde_json::from_str::<Value>(text) {
                    Ok(value @ Value::Array(_)) => Ok(value),
                    Ok(_) => Err(mismatch()),
                    Err(e) => Err(format!("expected {}, got invalid JSON: {e}", ty.expected())),
                }
            } else {
                Ok(Value::Array(
                    split_list(text)
                        .map(|item| Value::String(item.to_owned()))
                        .collect(),
                ))
            }
        }
        AttrType::Address => parse_address(raw).map(|(host, port)| {
            let mut map = Map::new();
            map.insert("host".to_owned(), Value::String(host));
            map.insert("port".to_owned(), Value::from(port));
            Value::Object(map)
        }),
        AttrType::Map => {
            let text = raw.trim();
            if text.starts_with('{') {
                match serde_json::from_str::<Value>(text) {
                    Ok(value @ Value::Object(_)) => Ok(value),
                    Ok(_) => Err(mismatch()),
                    Err(e) => Err(format!("expected {}, got invalid JSON: {e}", ty.expected())),
                }
            } else {
                let mut map = Map::new();
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    let Some((key, value)) = line.split_once('=') else {
                        return Err(format!(
                            "expected {}, got the line `{line}` without `=`",
                            ty.expected()
                        ));
                    };
                    let key = key.trim();
                    if key.is_empty() {
                        return Err(format!(
                            "expected {}, got the line `{line}` without a key",
                            ty.expected()
                        ));
                    }
                    if map
                        .insert(key.to_owned(), Value::String(value.trim().to_owned()))
                        .is_some()
                    {
                        return Err(format!("duplicate key `{key}` in map"));
                    }
                }
                Ok(Value::Object(map))
            }
        }
    }
}

/// `host:port` or `[IPv6]:port` as host (without brackets) and port.
fn parse_address(raw: &str) -> Result<(String, u16), String> {
    let ty = AttrType::Address;
    let text = raw.trim();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!(
                "expected {}, got `{raw}` without the closing `]`",
                ty.expected()
            ));
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "expected {}, got `{raw}`: `{host}` in brackets is not an IPv6 address",
                ty.expected()
            ));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err(format!(
                "expected {}, got `{raw}` without a port",
                ty.expected()
            ));
        };
        (host, port)
    } else {
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!(
                "expected {}, got `{raw}` without a port",
                ty.expected()
            ));
        };
        if host.contains(':') {
            return Err(format!(
                "expected {}, got `{raw}`: write an IPv6 address in brackets, as `[{host}]:{port}`",
                ty.expected()
            ));
        }
        (host, port)
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!(
            "expected {}, got `{raw}` without a valid host",
            ty.expected()
        ));
    }
    let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
        format!(
            "expected {}, got `{raw}`: the port `{port}` is not a number from 1 to 65535",
            ty.expected()
        )
    })?;
    Ok((host.to_owned(), port))
}

/// Items separated by commas and/or newlines, trimmed, empties dropped.
pub(crate) fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_names_round_trip() {
        for ty in AttrType::ALL {
            assert_eq!(ty.to_string().parse::<AttrType>(), Ok(ty));
        }
        let err = "strng".parse::<AttrType>().unwrap_err();
        assert!(err.contains("unknown attribute type `strng`"), "{err}");
        assert!(err.contains("did you mean `string`?"), "{err}");
    }

    #[test]
    fn string_is_taken_as_is() {
        assert_eq!(
            convert(" a b\nc ", AttrType::String).unwrap(),
            json!(" a b\nc ")
        );
    }

    #[test]
    fn int() {
        assert_eq!(convert("42", AttrType::Int).unwrap(), json!(42));
        assert_eq!(convert(" -7 ", AttrType::Int).unwrap(), json!(-7));
        assert_eq!(
            convert("4.2", AttrType::Int).unwrap_err(),
            "expected an integer, got `4.2`"
        );
        assert!(convert("", AttrType::Int).is_err());
    }

    #[test]
    fn bool_spellings() {
        for yes in ["true", "TRUE", "Yes", "on", "1", " true "] {
            assert_eq!(convert(yes, AttrType::Bool).unwrap(), json!(true), "{yes}");
        }
        for no in ["false", "No", "OFF", "0"] {
            assert_eq!(convert(no, AttrType::Bool).unwrap(), json!(false), "{no}");
        }
        let err = convert("maybe", AttrType::Bool).unwrap_err();
        assert_eq!(
            err,
            "expected a boolean (true/false, yes/no, on/off, 1/0), got `maybe`"
        );
    }

    #[test]
    fn list_from_commas_newlines_and_json() {
        assert_eq!(
            convert("a, b,,\n c\n\n", AttrType::List).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(convert("", AttrType::List).unwrap(), json!([]));
        assert_eq!(
            convert(" [1, \"x\"] ", AttrType::List).unwrap(),
            json!([1, "x"])
        );
        let err = convert("[1,", AttrType::List).unwrap_err();
        assert!(err.contains("invalid JSON"), "{err}");
    }

    #[test]
    fn address_connect_form() {
        let ty = AttrType::Address;
        assert_eq!(
            convert(" db.example.com:5432 ", ty).unwrap(),
            json!({"host": "db.example.com", "port": 5432})
        );
        assert_eq!(
            convert("10.0.0.1:80", ty).unwrap(),
            json!({"host": "10.0.0.1", "port": 80})
        );
        assert_eq!(
            convert("[::1]:8080", ty).unwrap(),
            json!({"host": "::1", "port": 8080})
        );
        assert_eq!("address".parse::<AttrType>(), Ok(ty));
        assert_eq!(ty.to_string(), "address");
        let err = |raw: &str| convert(raw, ty).unwrap_err();
        assert_eq!(
            err("db"),
            "expected an address (`host:port`, or `[IPv6]:port`), got `db` without a port"
        );
        assert!(
            err("db:").contains("the port `` is not a number"),
            "{}",
            err("db:")
        );
        assert!(err("db:http").contains("the port `http`"));
        assert!(err("db:0").contains("from 1 to 65535"));
        assert!(err("db:70000").contains("from 1 to 65535"));
        assert!(err(":80").contains("without a valid host"));
        assert!(err("::1:80").contains("as `[::1]:80`"), "{}", err("::1:80"));
        assert!(err("[::1]").contains("without a port"));
        assert!(err("[::1:80").contains("closing `]`"));
        assert!(err("[db]:80").contains("is not an IPv6 address"));
        assert!(err("[::1]80").contains("without a port"));
    }

    #[test]
    fn map_from_lines_and_json() {
        assert_eq!(
            convert("a = 1\n\n b=x=y ", AttrType::Map).unwrap(),
            json!({"a": "1", "b": "x=y"})
        );
        assert_eq!(
            convert("{\"a\": 1}", AttrType::Map).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(convert("", AttrType::Map).unwrap(), json!({}));
        let err = convert("a = 1\nb", AttrType::Map).unwrap_err();
        assert!(err.contains("the line `b` without `=`"), "{err}");
        assert!(err.starts_with("expected a map"), "{err}");
        assert_eq!(
            convert("a=1\na=2", AttrType::Map).unwrap_err(),
            "duplicate key `a` in map"
        );
        assert!(
            convert("= 1", AttrType::Map)
                .unwrap_err()
                .contains("without a key")
        );
    }
}
