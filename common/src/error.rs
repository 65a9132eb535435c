//! The crate's error enum.

use ragwire_client::CallError;

/// What can go wrong loading settings or reaching NATS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is invalid; stops start-up. `name` is its variable (or
    /// file key).
    #[error("invalid setting {name}: {message}")]
    Config {
        /// The variable or file key at fault.
        name: String,
        /// What is wrong with its value.
        message: String,
    },
    /// The command line asks for help or is malformed: clap's own message.
    #[error("{0}")]
    Usage(clap::Error),
    /// NATS could not be reached or refused an operation.
    #[error("{0}")]
    Nats(String),
}

impl Error {
    /// A settings error naming the variable.
    pub fn config(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            name: name.into(),
            message: message.into(),
        }
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Options { option, message } => {
                let name = match option {
                    "url" => "NATS_URL",
                    "creds_file" => "NATS_CREDS",
                    other => other,
                };
                Error::config(name, message)
            }
            CallError::Unreachable { .. } => Error::Nats(format!(
                "{e}. Start a server with JetStream, e.g. `nats-server -js` (Debian package \
                 nats-server) or `docker compose up -d nats`, or point NATS_URL at one."
            )),
            // Its message without the "NATS request failed" before it.
            CallError::Nats(message) => Error::Nats(message),
            other => Error::Nats(other.to_string()),
        }
    }
}
