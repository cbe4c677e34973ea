//! Which representations of the index body a server renders (`--index-format`), and which one a
//! client is given.
//!
//! Helm decodes a body that passes `json.Valid` as JSON since 3.13.0 (about 6× faster than YAML,
//! and lenient); older Helm, ChartMuseum's tools, curl and browsers expect YAML. `auto` renders
//! both and gives JSON only to a Helm that says (in its `User-Agent`, `Helm/<version>`, in 3.x and
//! 4.x alike) that it reads it.

use std::fmt;
use std::str::FromStr;

use chartroom_chart::version::Version;

/// The representations of the served index body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IndexFormat {
    /// YAML to everyone (the library's default, `helm repo index`'s bytes; the server's option
    /// defaults to [`IndexFormat::Auto`]).
    #[default]
    Yaml,
    /// JSON to everyone (`helm repo index --json`'s shape; Helm before 3.13 reads it as YAML).
    Json,
    /// JSON to Helm ≥ 3.13, YAML to every other client.
    Auto,
}

impl IndexFormat {
    /// Whether a YAML body is rendered.
    pub fn renders_yaml(self) -> bool {
        matches!(self, IndexFormat::Yaml | IndexFormat::Auto)
    }

    /// Whether a JSON body is rendered.
    pub fn renders_json(self) -> bool {
        matches!(self, IndexFormat::Json | IndexFormat::Auto)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IndexFormat::Yaml => "yaml",
            IndexFormat::Json => "json",
            IndexFormat::Auto => "auto",
        }
    }
}

impl fmt::Display for IndexFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IndexFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "yaml" => Ok(IndexFormat::Yaml),
            "json" => Ok(IndexFormat::Json),
            "auto" => Ok(IndexFormat::Auto),
            _ => Err("must be auto, yaml or json".to_owned()),
        }
    }
}

/// The first Helm release whose index loader detects a JSON body (`json.Valid`, helm/helm#12248).
const FIRST_JSON_HELM: (u64, u64, u64) = (3, 13, 0);

/// Whether a client with this `User-Agent` is a Helm that parses a JSON index body: the header
/// starts with `Helm/<version>` (`version.GetUserAgent`: `Helm/3.17.2`, `Helm/4.1.4`, a build
/// suffix after `+`) and the version is at least 3.13.0. A pre-release of 3.13.0 and anything
/// unreadable get YAML, which every Helm reads.
pub fn helm_reads_json(user_agent: &str) -> bool {
    let Some(rest) = user_agent.strip_prefix("Helm/") else { return false };
    let token = rest.split(|c: char| c.is_ascii_whitespace()).next().unwrap_or_default();
    let Ok(version) = Version::parse(token.strip_prefix('v').unwrap_or(token)) else { return false };
    let (major, minor, patch) = FIRST_JSON_HELM;
    match Version::parse(&format!("{major}.{minor}.{patch}")) {
        Ok(first) => version >= first,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_user_agents_get_json() {
        for (ua, json) in [
            ("Helm/3.17.2", true),
            ("Helm/4.1.4", true),
            ("Helm/3.13.0", true),
            ("Helm/3.13.0+g1234abc", true),
            ("Helm/v3.14.1", true),
            ("Helm/3.20.0 (linux/amd64)", true),
            ("Helm/3.12.3", false),
            ("Helm/3.13.0-rc.1", false),
            ("Helm/2.17.0", false),
            ("Helm/", false),
            ("Helm/banana", false),
            ("helm/3.17.2", false),
            ("Go-http-client/1.1", false),
            ("curl/8.5.0", false),
            ("Mozilla/5.0 (X11; Linux x86_64) Helm/3.17.2", false),
            ("chartmuseum-ui", false),
            ("", false),
        ] {
            assert_eq!(helm_reads_json(ua), json, "{ua:?}");
        }
    }

    #[test]
    fn parses_the_option_values() {
        assert_eq!("auto".parse(), Ok(IndexFormat::Auto));
        assert_eq!(" YAML ".parse(), Ok(IndexFormat::Yaml));
        assert_eq!("json".parse(), Ok(IndexFormat::Json));
        assert!("xml".parse::<IndexFormat>().unwrap_err().contains("auto, yaml or json"));
        for f in [IndexFormat::Auto, IndexFormat::Yaml, IndexFormat::Json] {
            assert_eq!(f.to_string().parse(), Ok(f));
        }
    }
}
