//! Settings, each declared once: a field of a `clap::Args` struct whose
//! attribute gives its flag, environment variable, default and bounds (a
//! value parser), and whose `///` doc says what it does. Everything else is
//! derived from that declaration:
//!
//! - [`load`] layers the values: built-in defaults, then a TOML file
//!   (`RAGWIRE_CONFIG` or `--config`, keys are the settings' ids such as
//!   `llm.timeout_ms`), then environment variables, then command-line flags.
//!   Empty variables count as unset. A bad value stops start-up with an
//!   error naming its variable (or file key) and the value.
//! - `--help` lists every setting with its variable and default.
//! - [`defaults`] builds a section from its built-in defaults alone (no
//!   environment), for `Default` impls and tests.
//! - [`reference`] prints the configuration reference of the docs.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::str::FromStr;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Args, Command, FromArgMatches, Parser};

use crate::error::Error;

/// The environment variable that names the TOML settings file.
pub const CONFIG_VAR: &str = "RAGWIRE_CONFIG";

/// Loads `T` from the process's arguments and environment.
pub fn load<T: Parser>() -> Result<T, Error> {
    load_from(std::env::args_os(), |name| std::env::var(name).ok())
}

/// Like [`load`], from `args` (the program name first) and variables read
/// through `lookup`.
pub fn load_from<T: Parser>(
    args: impl IntoIterator<Item = impl Into<OsString>>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<T, Error> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let lookup = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let declared = declared(T::command());
    let file = SettingsFile::named(&args, &lookup)?;
    if let Some(SettingsFile { path, values }) = &file {
        let known = ids(&declared);
        if let Some(key) = values.keys().find(|k| !known.contains(*k)) {
            return Err(Error::config(
                CONFIG_VAR,
                format!("{path}: `{key}` is not a setting (see `--help`)"),
            ));
        }
    }
    // Where each layered value came from, by setting id, for error messages.
    let mut origins: BTreeMap<String, (String, String)> = BTreeMap::new();
    let layered = map_args(declared.clone(), &mut |arg: Arg| {
        let id = arg.get_id().as_str().to_owned();
        let var = arg.get_env().map(|v| v.to_string_lossy().into_owned());
        let from_env = var.as_deref().and_then(|name| {
            lookup(name)
                .map(|v| (v, name.to_owned()))
                .or_else(|| {
                    let old = OLD_NAMES.iter().find(|o| o.id == id)?.var;
                    lookup(old).map(|v| (v, old.to_owned()))
                })
                .or_else(|| {
                    GATEWAY_NAMES
                        .iter()
                        .filter(|(ours, _, _)| *ours == name)
                        .find_map(|(_, theirs, read)| {
                            Some((read(lookup(theirs)?), (*theirs).to_owned()))
                        })
                })
        });
        let from_file = || {
            let SettingsFile { path, values } = file.as_ref()?;
            let value = values.get(&id)?.clone();
            Some((value, format!("{CONFIG_VAR} ({path}) key `{id}`")))
        };
        let arg = arg.env(None);
        match from_env.or_else(from_file) {
            Some((value, origin)) => {
                // Lists as people write them: `a, b` and a trailing comma.
                let value = match arg.get_value_delimiter() {
                    Some(d) => value
                        .split(d)
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .collect::<Vec<_>>()
                        .join(&d.to_string()),
                    None => value,
                };
                origins.insert(id, (origin, value.clone()));
                arg.default_value(value)
            }
            None => arg,
        }
    });
    let matches = match layered.clone().try_get_matches_from(&args) {
        Ok(matches) => matches,
        // Help from the declared command: it shows each setting's variable.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            return Err(Error::Usage(
                declared.try_get_matches_from(&args).err().unwrap_or(e),
            ))
        }
        Err(e) => return Err(explain(e, &layered, &args, &origins)),
    };
    T::from_arg_matches(&matches).map_err(Error::Usage)
}

/// `command` as help shows it: the value of each setting's variable
/// hidden (keys and passwords), its placeholder `<VALUE>` rather than its id.
pub fn declared(command: Command) -> Command {
    map_args(command, &mut |arg| {
        let arg = match OLD_NAMES.iter().find(|o| o.id == arg.get_id().as_str()) {
            Some(old) => arg.alias(old.flag),
            None => arg,
        };
        if arg.get_env().is_some() && arg.get_action().takes_values() {
            arg.hide_env_values(true).value_name("VALUE")
        } else {
            arg
        }
    })
}

/// The names a setting had before its flag, variable (and for a few, its
/// file key) followed from its key. They are still read, so that no
/// deployment breaks: the variable when the setting's own is unset, the
/// flag as an alias, the file key as the setting's.
pub struct OldName {
    /// The setting's key, e.g. `limits.max_in_flight`.
    pub id: &'static str,
    /// Its former variable.
    pub var: &'static str,
    /// Its former flag, without the dashes.
    pub flag: &'static str,
    /// Its former file key, when that differed from the key.
    pub key: Option<&'static str>,
}

const fn old(id: &'static str, var: &'static str, flag: &'static str) -> OldName {
    OldName {
        id,
        var,
        flag,
        key: None,
    }
}

/// Every setting's former names.
pub const OLD_NAMES: &[OldName] = &[
    old("llm.aliases", "RAGWIRE_MODEL_ALIASES", "model-aliases"),
    old(
        "llm.default_alias",
        "RAGWIRE_DEFAULT_MODEL",
        "default-model",
    ),
    OldName {
        key: Some("llm.max_retries"),
        ..old(
            "retry.max_retries",
            "RAGWIRE_LLM_MAX_RETRIES",
            "llm-max-retries",
        )
    },
    OldName {
        key: Some("llm.backoff_ms"),
        ..old(
            "retry.backoff_ms",
            "RAGWIRE_LLM_BACKOFF_MS",
            "llm-backoff-ms",
        )
    },
    OldName {
        key: Some("llm.max_retry_after_ms"),
        ..old(
            "retry.max_retry_after_ms",
            "RAGWIRE_LLM_MAX_RETRY_AFTER_MS",
            "llm-max-retry-after-ms",
        )
    },
    old(
        "vectors.timeout_ms",
        "RAGWIRE_VECTOR_TIMEOUT_MS",
        "vector-timeout-ms",
    ),
    old(
        "vectors.optimize_every",
        "RAGWIRE_VECTOR_OPTIMIZE_EVERY",
        "vector-optimize-every",
    ),
    old(
        "extract.hedge_delay_ms",
        "RAGWIRE_EXTRACT_HEDGE_MS",
        "extract-hedge-ms",
    ),
    old("jobs.enabled", "RAGWIRE_JOBS", "jobs"),
    old(
        "limits.max_in_flight",
        "RAGWIRE_MAX_IN_FLIGHT",
        "max-in-flight",
    ),
    old(
        "limits.max_request_bytes",
        "RAGWIRE_MAX_REQUEST_BYTES",
        "max-request-bytes",
    ),
    old("limits.max_texts", "RAGWIRE_MAX_TEXTS", "max-texts"),
    old(
        "limits.max_documents",
        "RAGWIRE_MAX_DOCUMENTS",
        "max-documents",
    ),
    old(
        "limits.request_timeout_ms",
        "RAGWIRE_REQUEST_TIMEOUT_MS",
        "request-timeout-ms",
    ),
    old(
        "limits.shutdown_grace_ms",
        "RAGWIRE_SHUTDOWN_GRACE_MS",
        "shutdown-grace-ms",
    ),
    old("http.api_keys", "RAGWIRE_API_KEYS", "api-keys"),
    old("http.app_version", "RAGWIRE_APP_VERSION", "app-version"),
];

/// The flag and variable a setting's key gives: `llm.timeout_ms` is
/// `--llm-timeout-ms` and `RAGWIRE_LLM_TIMEOUT_MS`. Settings named by
/// their ecosystem (`NATS_*`, `QDRANT_*`, `NEO4J_*`) keep those variables,
/// and their flags follow from them (`--nats-url`).
pub fn names_of(id: &str, var: &str) -> (String, String) {
    if ECOSYSTEM_PREFIXES.iter().any(|p| var.starts_with(p)) {
        return (var.to_lowercase().replace('_', "-"), var.to_owned());
    }
    (
        id.replace(['.', '_'], "-"),
        format!("RAGWIRE_{}", id.replace('.', "_").to_uppercase()),
    )
}

/// The variables named by the software they configure, not by ragwire.
const ECOSYSTEM_PREFIXES: &[&str] = &["NATS_", "QDRANT_", "NEO4J_"];

/// Variables of the gateway ragwire replaces, read when ragwire's own is
/// unset, so its deployments keep their settings: ragwire's name, the
/// gateway's, and how the gateway's value reads as ragwire's.
pub const GATEWAY_NAMES: &[(&str, &str, ReadAs)] = &[
    ("RAGWIRE_HTTP_API_KEYS", "API_GATEWAY_KEYS", same),
    ("RAGWIRE_ADMIN_KEY", "ADMIN_API_KEY", same),
    ("RAGWIRE_LLM_BASE_URL", "LITELLM_BASE", same),
    ("RAGWIRE_LLM_API_KEY", "LITELLM_KEY", same),
    // A base URL; the reranker client adds `/rerank` to one.
    ("RAGWIRE_RERANK_URL", "RERANKER_URL", same),
    ("RAGWIRE_RERANK_FORMAT", "RERANKER_URL", |_| "seed".into()),
    ("RAGWIRE_EXTRACT_MIN_NODES", "GRAPH_MIN_NODES", same),
    ("RAGWIRE_EXTRACT_MIN_EDGES", "GRAPH_MIN_EDGES", same),
    ("RAGWIRE_EXTRACT_ALLOW_EMPTY", "GRAPH_ALLOW_EMPTY", |v| {
        v.trim().eq_ignore_ascii_case("true").to_string()
    }),
    ("RAGWIRE_EXTRACT_MAX_ATTEMPTS", "GRAPH_MAX_ATTEMPTS", same),
    ("RAGWIRE_EXTRACT_CHAIN", "GRAPH_PROVIDER_CHAIN", same),
    ("RAGWIRE_HTTP_APP_VERSION", "APP_VERSION", same),
];

/// How a variable of the gateway reads as ragwire's.
pub type ReadAs = fn(String) -> String;

fn same(value: String) -> String {
    value
}

/// Like [`load`], but help, version and command-line mistakes are printed
/// as clap prints them, and the process exits.
pub fn load_or_exit<T: Parser>() -> Result<T, Error> {
    match load() {
        Err(Error::Usage(e)) => e.exit(),
        other => other,
    }
}

/// `T` from its built-in defaults alone: no environment, file or flags.
pub fn defaults<T: Args + FromArgMatches>() -> T {
    let command = map_args(T::augment_args(Command::new("defaults")), &mut |a| {
        a.env(None)
    });
    let matches = command
        .try_get_matches_from(["defaults"])
        .unwrap_or_else(|e| panic!("a built-in default does not parse: {e}"));
    T::from_arg_matches(&matches).unwrap_or_else(|e| panic!("defaults: {e}"))
}

/// Implements `Default` for settings sections through [`defaults`].
#[macro_export]
macro_rules! default_from_declarations {
    ($($section:ty),* $(,)?) => {
        $(impl Default for $section {
            fn default() -> Self {
                $crate::settings::defaults()
            }
        })*
    };
}

/// The configuration reference in Markdown: one table per help heading,
/// one row per setting with its variable, flag, default and doc.
pub fn reference(command: &Command) -> String {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for arg in command.get_arguments() {
        let Some(var) = arg.get_env() else { continue };
        let heading = arg.get_help_heading().unwrap_or("General").to_owned();
        let default = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",");
        let default = if default.is_empty() {
            "—".to_owned()
        } else {
            format!("`{default}`")
        };
        let doc = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|");
        let row = format!(
            "| `{}` | `--{}` | {default} | {doc} |",
            var.to_string_lossy(),
            arg.get_long().unwrap_or_default(),
        );
        match sections.iter_mut().find(|(h, _)| *h == heading) {
            Some((_, rows)) => rows.push(row),
            None => sections.push((heading, vec![row])),
        }
    }
    let mut out = String::new();
    for (heading, rows) in sections {
        out.push_str(&format!(
            "\n### {heading}\n\n| variable | flag | default | meaning |\n|---|---|---|---|\n"
        ));
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
    }
    let renamed: Vec<String> = OLD_NAMES
        .iter()
        .filter_map(|old| {
            let arg = command
                .get_arguments()
                .find(|a| a.get_id().as_str() == old.id)?;
            let var = arg.get_env()?.to_string_lossy();
            let key = old.key.map(|k| format!(", key `{k}`")).unwrap_or_default();
            Some(format!(
                "| `{var}` | `{}`, `--{}`{key} |\n",
                old.var, old.flag
            ))
        })
        .collect();
    if !renamed.is_empty() {
        out.push_str(
            "\n### Former names\n\nThese settings had names that did not follow from their keys; \
             the former ones are still read (a variable when the new one is unset).\n\n\
             | variable | former names |\n|---|---|\n",
        );
        out.extend(renamed);
    }
    let known: BTreeSet<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_env().and_then(|v| v.to_str()))
        .collect();
    let legacy: Vec<String> = GATEWAY_NAMES
        .iter()
        .filter(|(ours, _, _)| known.contains(ours))
        .map(|(ours, theirs, _)| format!("| `{theirs}` | `{ours}` |\n"))
        .collect();
    if !legacy.is_empty() {
        out.push_str(
            "\n### The gateway's names\n\nThe variables of the gateway ragwire replaces are read \
             when ragwire's own is unset (`RERANKER_URL` also selects the `seed` format; \
             `GRAPH_ALLOW_EMPTY` is true only when it says `true`).\n\n\
             | the gateway's | ragwire's |\n|---|---|\n",
        );
        out.extend(legacy);
    }
    out
}

/// Applies `f` to every argument of `command` and of its subcommands.
fn map_args(command: Command, f: &mut dyn FnMut(Arg) -> Arg) -> Command {
    let command = command.mut_args(&mut *f);
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    names.into_iter().fold(command, |command, name| {
        command.mut_subcommand(name, |sub| map_args(sub, &mut *f))
    })
}

/// The ids of every setting that has an environment variable.
fn ids(command: &Command) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = command
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .map(|a| a.get_id().as_str().to_owned())
        .collect();
    for sub in command.get_subcommands() {
        ids.extend(self::ids(sub));
    }
    ids
}

/// The TOML file named by `--config` or [`CONFIG_VAR`], flattened to
/// `section.key = value` strings as a variable would give them: lists
/// joined with `,`, tables of strings as `key=value` lists.
struct SettingsFile {
    path: String,
    values: BTreeMap<String, String>,
}

impl SettingsFile {
    fn named(
        args: &[OsString],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SettingsFile>, Error> {
        let mut from_flag = None;
        let mut args = args.iter().map(|a| a.to_string_lossy());
        while let Some(arg) = args.next() {
            if arg == "--config" {
                from_flag = args.next().map(|a| a.into_owned());
            } else if let Some(path) = arg.strip_prefix("--config=") {
                from_flag = Some(path.to_owned());
            }
        }
        let Some(path) = from_flag.or_else(|| lookup(CONFIG_VAR)) else {
            return Ok(None);
        };
        let fail = |e: &dyn std::fmt::Display| Error::config(CONFIG_VAR, format!("{path}: {e}"));
        let text = std::fs::read_to_string(&path).map_err(|e| fail(&e))?;
        let table: toml::Table = text.parse().map_err(|e| fail(&e))?;
        let mut values = BTreeMap::new();
        flatten("", &table, &mut values).map_err(|e| fail(&e))?;
        for old in OLD_NAMES {
            if let Some(value) = old.key.and_then(|key| values.remove(key)) {
                values.entry(old.id.to_owned()).or_insert(value);
            }
        }
        Ok(Some(SettingsFile { path, values }))
    }
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    for (key, value) in table {
        let id = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            // A section, unless its entries are all strings: a map setting
            // such as `[llm.aliases]`.
            toml::Value::Table(t) if !t.values().all(toml::Value::is_str) => flatten(&id, t, out)?,
            toml::Value::Table(t) => {
                let pairs: Vec<String> = t
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                out.insert(id, pairs.join(","));
            }
            toml::Value::Array(items) => {
                let items: Result<Vec<String>, String> = items.iter().map(scalar).collect();
                out.insert(
                    id.clone(),
                    items.map_err(|e| format!("`{id}`: {e}"))?.join(","),
                );
            }
            other => {
                out.insert(
                    id.clone(),
                    scalar(other).map_err(|e| format!("`{id}`: {e}"))?,
                );
            }
        }
    }
    Ok(())
}

fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, number or boolean, got {other}")),
    }
}

/// Turns clap's error about a layered value into one that names the
/// variable (or file key) and the value; leaves command-line errors and
/// help as they are.
fn explain(
    error: clap::Error,
    command: &Command,
    args: &[OsString],
    origins: &BTreeMap<String, (String, String)>,
) -> Error {
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return Error::Usage(error);
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return Error::Usage(error);
    };
    let flag = shown.split([' ', '=']).next().unwrap_or_default();
    let on_command_line = args
        .iter()
        .any(|a| a.to_string_lossy().split('=').next() == Some(flag));
    let arg = find_arg(command, flag.trim_start_matches('-'));
    let origin = arg.and_then(|a| origins.get(a.get_id().as_str()));
    let (Some((origin, value)), false) = (origin, on_command_line) else {
        return Error::Usage(error);
    };
    let reason = match (
        error.get(ContextKind::ValidValue),
        std::error::Error::source(&error),
    ) {
        (Some(ContextValue::Strings(valid)), _) => format!("expected one of {}", valid.join(", ")),
        (_, Some(source)) => source.to_string(),
        _ => error.kind().to_string(),
    };
    Error::config(origin.clone(), format!("`{value}`: {reason}"))
}

fn find_arg<'a>(command: &'a Command, long: &str) -> Option<&'a Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| command.get_subcommands().find_map(|c| find_arg(c, long)))
}

/// Value parsers: the bounds of settings, each with a message that says
/// what is expected.
pub mod parse {
    use super::*;

    /// A whole number of at least 1.
    pub fn at_least_one<T>(s: &str) -> Result<T, String>
    where
        T: FromStr + PartialOrd + From<u8>,
        T::Err: std::fmt::Display,
    {
        let value: T = s.trim().parse().map_err(|e: T::Err| e.to_string())?;
        if value < T::from(1) {
            return Err("must be at least 1".into());
        }
        Ok(value)
    }

    /// A timeout or wait in milliseconds, at least 1.
    pub fn millis(s: &str) -> Result<u64, String> {
        at_least_one(s).map_err(|e| {
            if e.contains("at least") {
                "a timeout must be at least 1 ms".into()
            } else {
                e
            }
        })
    }

    /// A timeout: a whole number of milliseconds, at least 1.
    pub fn timeout(s: &str) -> Result<Duration, String> {
        millis(s).map(Duration::from_millis)
    }

    /// A whole number of milliseconds, 0 included.
    pub fn duration_ms(s: &str) -> Result<Duration, String> {
        let value: u64 = s.trim().parse().map_err(|e| format!("{e}"))?;
        Ok(Duration::from_millis(value))
    }

    /// A whole number of microseconds, 0 included.
    pub fn duration_us(s: &str) -> Result<Duration, String> {
        let value: u64 = s.trim().parse().map_err(|e| format!("{e}"))?;
        Ok(Duration::from_micros(value))
    }

    /// A `true` or `false`.
    pub fn boolean(s: &str) -> Result<bool, String> {
        s.trim()
            .parse()
            .map_err(|_| "expected `true` or `false`".into())
    }

    /// An `http://` or `https://` URL.
    pub fn http_url(s: &str) -> Result<String, String> {
        let s = s.trim();
        if s.starts_with("http://") || s.starts_with("https://") {
            Ok(s.to_owned())
        } else {
            Err(format!("`{s}` is not an http(s) URL"))
        }
    }

    /// `name=value`, as in `alias=model`.
    pub fn pair(s: &str) -> Result<(String, String), String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not name=value"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(format!("`{s}` is not name=value"));
        }
        Ok((k.to_owned(), v.to_owned()))
    }

    /// A NATS subject prefix: tokens of letters, digits, `_` and `-`,
    /// dots between.
    pub fn subject_prefix(s: &str) -> Result<String, String> {
        let ok = !s.is_empty()
            && s.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        if ok {
            Ok(s.to_owned())
        } else {
            Err(format!(
                "`{s}` is not a NATS subject prefix (letters, digits, `_`, `-`, dots between)"
            ))
        }
    }

    /// One NATS subject token: letters, digits, `_` or `-`.
    pub fn token(s: &str) -> Result<String, String> {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            Ok(s.to_owned())
        } else {
            Err("must be letters, digits, `_` or `-`".into())
        }
    }

    /// `host:port` with an IP address.
    pub fn socket_addr(s: &str) -> Result<String, String> {
        s.parse::<std::net::SocketAddr>()
            .map(|_| s.to_owned())
            .map_err(|_| format!("`{s}` is not host:port with an IP address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section as the binaries declare theirs.
    #[derive(Debug, Clone, clap::Args)]
    #[command(next_help_heading = "Example")]
    struct Section {
        /// Per call, in milliseconds.
        #[arg(id = "ex.timeout_ms", long = "ex-timeout-ms", env = "EX_TIMEOUT_MS",
              default_value_t = 50, value_parser = parse::millis)]
        timeout_ms: u64,
        /// Names, comma-separated.
        #[arg(
            id = "ex.names",
            long = "ex-names",
            env = "EX_NAMES",
            value_delimiter = ','
        )]
        names: Vec<String>,
        /// Aliases, `alias=model`.
        #[arg(id = "ex.aliases", long = "ex-aliases", env = "EX_ALIASES",
              value_delimiter = ',', value_parser = parse::pair)]
        aliases: Vec<(String, String)>,
        /// An optional URL.
        #[arg(id = "ex.url", long = "ex-url", env = "EX_URL", value_parser = parse::http_url)]
        url: Option<String>,
        /// A switch.
        #[arg(id = "ex.on", long = "ex-on", env = "EX_ON", default_value_t = false,
              action = clap::ArgAction::Set, value_parser = parse::boolean)]
        on: bool,
    }

    #[derive(Debug, clap::Parser)]
    struct Example {
        /// A settings file.
        #[arg(long, env = CONFIG_VAR)]
        config: Option<std::path::PathBuf>,
        /// The prefix.
        #[arg(long, env = "EX_PREFIX", default_value = "rag", value_parser = parse::subject_prefix)]
        prefix: String,
        #[command(flatten)]
        ex: Section,
    }

    fn load(args: &[&str], vars: &[(&str, &str)]) -> Result<Example, Error> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_from(
            std::iter::once("example").chain(args.iter().copied()),
            |name| vars.get(name).cloned(),
        )
    }

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let e = load(&[], &[]).unwrap();
        assert_eq!(
            (e.prefix.as_str(), e.ex.timeout_ms, e.ex.on),
            ("rag", 50, false)
        );
        assert!(e.ex.url.is_none() && e.ex.names.is_empty());

        let dir = std::env::temp_dir().join(format!("ragwire-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ragwire.toml");
        std::fs::write(
            &path,
            "prefix = \"fromfile\"\n[ex]\ntimeout_ms = 5\nnames = [\"a\", \"b\"]\n\
             [ex.aliases]\nrag-answer = \"m1\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let e = load(&[], &[(CONFIG_VAR, p), ("EX_TIMEOUT_MS", "7")]).unwrap();
        assert_eq!(e.prefix, "fromfile");
        assert_eq!(e.ex.timeout_ms, 7, "the environment wins over the file");
        assert_eq!(e.ex.names, ["a", "b"]);
        assert_eq!(e.ex.aliases, [("rag-answer".to_owned(), "m1".to_owned())]);
        let e = load(
            &["--ex-timeout-ms", "9", "--config", p],
            &[("EX_TIMEOUT_MS", "7")],
        )
        .unwrap();
        assert_eq!(e.ex.timeout_ms, 9, "a flag wins over the environment");

        std::fs::write(&path, "[ex]\nnope = 3\n").unwrap();
        let err = load(&[], &[(CONFIG_VAR, p)]).unwrap_err().to_string();
        assert!(err.contains(CONFIG_VAR) && err.contains("ex.nope"), "{err}");
        std::fs::write(&path, "prefix = [[1]]\n").unwrap();
        let err = load(&[], &[(CONFIG_VAR, p)]).unwrap_err().to_string();
        assert!(err.contains(CONFIG_VAR), "{err}");
        std::fs::write(&path, "[ex]\ntimeout_ms = 0\n").unwrap();
        let err = load(&[], &[(CONFIG_VAR, p)]).unwrap_err().to_string();
        assert!(
            err.contains("ex.timeout_ms") && err.contains("1 ms"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_variable_and_value() {
        for (name, value, says) in [
            ("EX_TIMEOUT_MS", "lots", "invalid digit"),
            ("EX_TIMEOUT_MS", "0", "at least 1 ms"),
            ("EX_URL", "localhost:4000", "not an http(s) URL"),
            ("EX_ALIASES", "justone", "not name=value"),
            ("EX_ON", "maybe", "`true` or `false`"),
            ("EX_PREFIX", "rag.*", "subject prefix"),
        ] {
            let err = load(&[], &[(name, value)]).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::Config { .. }), "{name}: {text}");
            assert!(
                text.contains(name) && text.contains(value) && text.contains(says),
                "{name}={value}: {text}"
            );
        }
    }

    #[test]
    fn empty_variables_are_unset_and_lists_split() {
        let e = load(&[], &[("EX_URL", " "), ("EX_NAMES", "x, y,")]).unwrap();
        assert!(e.ex.url.is_none());
        assert_eq!(e.ex.names, ["x", "y"]);
        let e = load(&[], &[("EX_ON", "true"), ("EX_URL", "http://h:1/v1")]).unwrap();
        assert!(e.ex.on);
        assert_eq!(e.ex.url.as_deref(), Some("http://h:1/v1"));
    }

    #[test]
    fn help_names_each_variable_and_hides_its_value() {
        let Err(Error::Usage(help)) = load(&["--help"], &[("EX_URL", "http://secret:1")]) else {
            panic!("help is a usage error")
        };
        let text = help.to_string();
        assert!(text.contains("[env: EX_TIMEOUT_MS"), "{text}");
        assert!(text.contains("[default: 50]"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn the_gateways_names_are_read_when_ours_are_unset() {
        #[derive(Debug, clap::Parser)]
        struct Keys {
            #[arg(long, env = "RAGWIRE_HTTP_API_KEYS", value_delimiter = ',')]
            keys: Vec<String>,
            #[arg(long, env = "RAGWIRE_EXTRACT_ALLOW_EMPTY", default_value_t = false,
                  action = clap::ArgAction::Set, value_parser = parse::boolean)]
            allow_empty: bool,
        }
        let load = |vars: &[(&str, &str)]| {
            let vars: BTreeMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            load_from::<Keys>(["x"], |name| vars.get(name).cloned()).unwrap()
        };
        let k = load(&[("API_GATEWAY_KEYS", "a, b"), ("GRAPH_ALLOW_EMPTY", "TRUE")]);
        assert_eq!(
            (k.keys, k.allow_empty),
            (vec!["a".to_owned(), "b".to_owned()], true)
        );
        let k = load(&[
            ("API_GATEWAY_KEYS", "a"),
            ("RAGWIRE_HTTP_API_KEYS", "mine"),
            ("GRAPH_ALLOW_EMPTY", "yes"),
        ]);
        assert_eq!((k.keys, k.allow_empty), (vec!["mine".to_owned()], false));
    }

    #[test]
    fn defaults_ignore_the_environment() {
        let s: Section = defaults();
        assert_eq!(s.timeout_ms, 50);
    }

    #[test]
    fn reference_lists_every_variable_under_its_heading() {
        use clap::CommandFactory;
        let text = reference(&Example::command());
        for var in [
            "EX_PREFIX",
            "EX_TIMEOUT_MS",
            "EX_NAMES",
            "EX_ALIASES",
            "EX_URL",
            "EX_ON",
        ] {
            assert!(text.contains(&format!("| `{var}` |")), "{var}: {text}");
        }
        assert!(text.contains("### Example"), "{text}");
        assert!(
            text.contains(
                "| `EX_TIMEOUT_MS` | `--ex-timeout-ms` | `50` | Per call, in milliseconds |"
            ),
            "{text}"
        );
    }
}
