//! The crate's error enum.

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
