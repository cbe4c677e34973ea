//! Resolution: each option's value by precedence, flag or environment variable (read by the
//! binary's command line and handed over as [`ArgValues`]) > config file > the table's default,
//! validated once, with where it came from ([`Sources`]).
//!
//! Nothing here writes the process environment, and only the selected storage backend's options
//! and variables are read.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::chartmuseum::check_unsupported_env;
use super::error::ConfigError;
use super::file::{
    ConfigFile, file_bool, file_duration_string, file_items, file_pairs, file_string, file_uint, render,
};
use super::go_duration::{format_go_duration, parse_go_duration};
use super::options::{CONFIG, Kind, OPTIONS, Opt, OptionSpec, kind};
use super::settings::Config;
use super::values::{Backend, parse_bool_text, parse_items_text, parse_pairs_text, parse_uint_text};

/// Option values given as flags or environment variables, by option, not yet validated. The
/// binary fills it from its command line; tests and embedders set values directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgValues {
    values: BTreeMap<&'static str, OsString>,
}

impl ArgValues {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `option` as if given on the command line.
    pub fn set(&mut self, option: &OptionSpec, value: impl Into<OsString>) {
        self.values.insert(option.key, value.into());
    }

    /// [`ArgValues::set`], by value.
    pub fn with(mut self, option: &OptionSpec, value: impl Into<OsString>) -> Self {
        self.set(option, value);
        self
    }

    pub fn get(&self, option: &OptionSpec) -> Option<&OsStr> {
        self.values.get(option.key).map(OsString::as_os_str)
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A flag or an environment variable.
    Arg,
    /// The config file.
    File,
    /// The option table's default.
    Default,
}

impl Source {
    /// `flag/env`, `file` or `default`, as the startup log writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Arg => "flag/env",
            Source::File => "file",
            Source::Default => "default",
        }
    }
}

/// For each resolved option (the selected storage backend's only), where its value came from and
/// the value as the startup log shows it.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    by_key: BTreeMap<&'static str, (Source, String)>,
}

impl Sources {
    /// Where the option with this config key got its value; `None` when it was not resolved
    /// (another backend's option).
    pub fn get(&self, key: &str) -> Option<Source> {
        self.by_key.get(key).map(|(source, _)| *source)
    }
}

/// The validated configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: Config,
    pub sources: Sources,
}

impl Resolved {
    /// The effective configuration as (key, value, source) rows for the startup log, in option
    /// table order; source is "flag/env", "file" or "default". Keys are the ChartMuseum config
    /// file keys (`config` for the config file itself).
    pub fn describe(&self) -> Vec<(&'static str, String, &'static str)> {
        OPTIONS
            .iter()
            .filter_map(|o| {
                self.sources.by_key.get(o.key).map(|(source, shown)| (o.key, shown.clone(), source.as_str()))
            })
            .collect()
    }
}

/// Resolves the configuration: flag/env values (`args`) > the config file (`--config`) > defaults,
/// all validated. `env` is the process environment, read for what storage needs beside the options
/// (`<NAME>_FILE` secrets, checked here so that a broken secret stops the start before anything
/// else; the AWS region) and for ChartMuseum variables Chartroom refuses.
pub fn resolve(args: &ArgValues, env: impl IntoIterator<Item = (String, String)>) -> Result<Resolved, ConfigError> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    check_unsupported_env(env.iter().cloned())?;
    let file = match args.get(&CONFIG) {
        Some(path) => Some(ConfigFile::load(Path::new(path))?),
        None => None,
    };
    let mut resolver = Resolver { args, file: file.as_ref(), sources: Sources::default() };
    let config = Config::resolve(&mut resolver, env)?;
    Ok(Resolved { config, sources: resolver.sources })
}

/// What the startup log and error messages show instead of a secret's value.
const REDACTED: &str = "<redacted>";

/// One option's input before it is read as its kind.
#[derive(Clone, Copy)]
enum Input<'a> {
    /// A flag or environment value, or the table's default, as command-line text.
    Text(&'a OsStr),
    File(&'a Value),
}

impl Input<'_> {
    /// As written, for error messages.
    fn render(self) -> String {
        match self {
            Input::Text(s) => s.to_string_lossy().into_owned(),
            Input::File(v) => render(v),
        }
    }
}

/// How a resolved value appears in the startup log.
pub(crate) trait Shown {
    fn shown(&self) -> String;
}

impl Shown for String {
    fn shown(&self) -> String {
        self.clone()
    }
}

/// Unset text shows as empty.
impl Shown for Option<String> {
    fn shown(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

/// A list shows comma-separated, as it is written.
impl Shown for Option<Vec<String>> {
    fn shown(&self) -> String {
        self.as_ref().map(|items| items.join(",")).unwrap_or_default()
    }
}

impl Shown for PathBuf {
    fn shown(&self) -> String {
        self.display().to_string()
    }
}

impl Shown for Option<PathBuf> {
    fn shown(&self) -> String {
        self.as_ref().map(Shown::shown).unwrap_or_default()
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        format_go_duration(*self)
    }
}

/// A disabled interval shows as `0`, as it is written.
impl Shown for Option<Duration> {
    fn shown(&self) -> String {
        self.map_or_else(|| "0".to_owned(), format_go_duration)
    }
}

impl Shown for super::settings::AllowedOrigins {
    fn shown(&self) -> String {
        match self {
            super::settings::AllowedOrigins::Any => "*".to_owned(),
            super::settings::AllowedOrigins::List(list) => list.join(","),
        }
    }
}

impl Shown for Option<super::settings::AllowedOrigins> {
    fn shown(&self) -> String {
        self.as_ref().map(Shown::shown).unwrap_or_default()
    }
}

impl Shown for Option<std::net::SocketAddr> {
    fn shown(&self) -> String {
        self.map(|a| a.to_string()).unwrap_or_default()
    }
}

impl Shown for Option<usize> {
    fn shown(&self) -> String {
        self.map_or_else(|| "0".to_owned(), |n| n.to_string())
    }
}

impl Shown for Backend {
    fn shown(&self) -> String {
        self.name().to_owned()
    }
}

macro_rules! shown_by_display {
    ($($t:ty),*) => { $(impl Shown for $t { fn shown(&self) -> String { self.to_string() } })* };
}
shown_by_display!(bool, u16, u64, usize);

/// Reads options by precedence and records their sources; the settings structs call it once per
/// option (`settings.rs`).
pub(crate) struct Resolver<'a> {
    args: &'a ArgValues,
    file: Option<&'a ConfigFile>,
    sources: Sources,
}

impl<'a> Resolver<'a> {
    /// The input of one option by precedence, and where it came from.
    fn input(&self, spec: &OptionSpec) -> (Input<'a>, Source) {
        if let Some(v) = self.args.get(spec) {
            return (Input::Text(v), Source::Arg);
        }
        if spec.in_file
            && let Some(file) = self.file
            && let Some(v) = file.values.get(spec.key)
        {
            return (Input::File(v), Source::File);
        }
        (Input::Text(OsStr::new(spec.default)), Source::Default)
    }

    fn record<T: Shown>(&mut self, spec: &OptionSpec, source: Source, value: T) -> T {
        let shown = value.shown();
        let shown = if spec.secret && !shown.is_empty() { REDACTED.to_owned() } else { shown };
        self.sources.by_key.insert(spec.key, (source, shown));
        value
    }

    /// The input as text (any kind but paths is text on the command line).
    fn text_input(&self, spec: &OptionSpec, input: Input<'_>, source: Source) -> Result<String, ConfigError> {
        let text = match input {
            Input::Text(s) => s.to_str().map(str::to_owned).ok_or_else(|| "not valid UTF-8".to_owned()),
            Input::File(v) => file_string(v),
        };
        text.map_err(|e| self.invalid(spec, source, &input.render(), e))
    }

    /// A text option through `check`, which normalises or refuses it.
    pub fn text<T: Shown>(
        &mut self,
        opt: &Opt<kind::Text>,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (input, source) = self.input(opt);
        let text = self.text_input(opt, input, source)?;
        let value = check(&text).map_err(|e| self.invalid(opt, source, &text, e))?;
        Ok(self.record(opt, source, value))
    }

    /// A text option where blank means unset (ChartMuseum's defaults are empty strings); `check`
    /// gets the trimmed text.
    pub fn optional<T>(
        &mut self,
        opt: &Opt<kind::Text>,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError>
    where
        Option<T>: Shown,
    {
        let (input, source) = self.input(opt);
        let text = self.text_input(opt, input, source)?;
        let text = text.trim();
        let value = match text {
            "" => None,
            text => Some(check(text).map_err(|e| self.invalid(opt, source, text, e))?),
        };
        Ok(self.record(opt, source, value))
    }

    /// A path option through `check`.
    pub fn path<T: Shown>(
        &mut self,
        opt: &Opt<kind::Path>,
        check: impl FnOnce(PathBuf) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (input, source) = self.input(opt);
        let path = match input {
            Input::Text(s) => PathBuf::from(s),
            Input::File(v) => PathBuf::from(file_string(v).map_err(|e| self.invalid(opt, source, &input.render(), e))?),
        };
        let value = check(path).map_err(|e| self.invalid(opt, source, &input.render(), e))?;
        Ok(self.record(opt, source, value))
    }

    /// A boolean option: text as `parse_bool` reads it, or a YAML boolean, 0 or 1.
    pub fn bool(&mut self, opt: &Opt<kind::Bool>) -> Result<bool, ConfigError> {
        let (input, source) = self.input(opt);
        let value = match input {
            Input::Text(_) => self
                .text_input(opt, input, source)
                .and_then(|text| parse_bool_text(&text).map_err(|e| self.invalid(opt, source, &text, e)))?,
            Input::File(v) => file_bool(v).map_err(|e| self.invalid(opt, source, &input.render(), e))?,
        };
        Ok(self.record(opt, source, value))
    }

    /// An integer option (at most the table's `max`) through `check`.
    pub fn uint<T: Shown>(
        &mut self,
        opt: &Opt<kind::UInt>,
        check: impl FnOnce(u64) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (max, want) = match opt.kind {
            Kind::UInt { max, want } => (max, want),
            // Not reached: `Opt<kind::UInt>` is only built with `Kind::UInt` (`Opt::uint`).
            _ => (u64::MAX, "a non-negative integer"),
        };
        let (input, source) = self.input(opt);
        let n = match input {
            Input::Text(_) => {
                let text = self.text_input(opt, input, source)?;
                parse_uint_text(&text, max, want)
            }
            Input::File(v) => file_uint(v, max),
        };
        let value = n.and_then(check).map_err(|e| self.invalid(opt, source, &input.render(), e))?;
        Ok(self.record(opt, source, value))
    }

    /// A Go duration option through `check`.
    pub fn duration<T: Shown>(
        &mut self,
        opt: &Opt<kind::Duration>,
        check: impl FnOnce(Duration) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (input, source) = self.input(opt);
        let text = match input {
            Input::Text(_) => self.text_input(opt, input, source)?,
            Input::File(v) => file_duration_string(v).map_err(|e| self.invalid(opt, source, &input.render(), e))?,
        };
        let value = parse_go_duration(&text).and_then(check).map_err(|e| self.invalid(opt, source, &text, e))?;
        Ok(self.record(opt, source, value))
    }

    /// A `KEY=VALUE` pairs option through `check`: the flags (joined by the command line),
    /// the variable's list or the file's mapping.
    pub fn pairs<T: Shown>(
        &mut self,
        opt: &Opt<kind::Pairs>,
        check: impl FnOnce(Vec<(String, String)>) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (input, source) = self.input(opt);
        let pairs = match input {
            Input::Text(_) => {
                let text = self.text_input(opt, input, source)?;
                parse_pairs_text(&text)
            }
            Input::File(v) => file_pairs(v),
        };
        let value = pairs.and_then(check).map_err(|e| self.invalid(opt, source, &input.render(), e))?;
        Ok(self.record(opt, source, value))
    }

    /// A `VALUE` or `KEY=VALUE` items option through `check` (`("", VALUE)` for a bare value).
    pub fn items<T: Shown>(
        &mut self,
        opt: &Opt<kind::Items>,
        check: impl FnOnce(Vec<(String, String)>) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (input, source) = self.input(opt);
        let items = match input {
            Input::Text(_) => {
                let text = self.text_input(opt, input, source)?;
                parse_items_text(&text)
            }
            Input::File(v) => file_items(v),
        };
        let value = items.and_then(check).map_err(|e| self.invalid(opt, source, &input.render(), e))?;
        Ok(self.record(opt, source, value))
    }

    /// An error for a required option that has no value.
    /// Where an option already resolved got its value (`None` before it is resolved).
    pub fn source(&self, spec: &OptionSpec) -> Option<Source> {
        self.sources.get(spec.key)
    }

    pub fn missing(&self, spec: &OptionSpec, reason: &str) -> ConfigError {
        ConfigError::Missing {
            flag: spec.flag,
            env: spec.env,
            key: spec.key,
            file: self.file.map(|f| f.path.clone()),
            reason: reason.to_owned(),
        }
    }

    fn invalid(&self, spec: &OptionSpec, source: Source, value: &str, reason: impl Into<String>) -> ConfigError {
        let file = match (source, self.file) {
            (Source::File, Some(f)) => Some(f.path.clone()),
            _ => None,
        };
        ConfigError::Invalid {
            flag: spec.flag,
            env: spec.env,
            key: spec.key,
            file,
            value: if spec.secret { REDACTED.to_owned() } else { value.to_owned() },
            reason: reason.into(),
        }
    }
}
