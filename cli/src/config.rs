//! `ragwire config reference`: every setting of `ragwire serve` (the worker's
//! and the producer's), with its variable, flag, default and doc, as the
//! Markdown of `docs/configuration.md`. The settings are the server's: a
//! command line built without the `server` feature says so instead.

/// What to print about the settings.
#[derive(clap::Subcommand)]
pub enum Config {
    /// The settings reference in Markdown (`docs/configuration.md`).
    Reference,
}

/// The reference, generated from the settings' declarations.
#[cfg(feature = "server")]
pub fn reference() -> anyhow::Result<String> {
    use clap::CommandFactory;
    let command = crate::Cli::command();
    let serve = command
        .find_subcommand("serve")
        .expect("ragwire has a serve command");
    Ok(ragwire_common::settings::reference(serve))
}

/// Without the server there are no worker or producer settings to list.
#[cfg(not(feature = "server"))]
pub fn reference() -> anyhow::Result<String> {
    anyhow::bail!(
        "the settings reference is the worker's and the producer's, and this ragwire was built \
         without them (no `server` feature); see docs/configuration.md, or install ragwire \
         with its default features"
    )
}

/// Prints what `command` asks for.
pub fn run(command: Config) -> anyhow::Result<()> {
    match command {
        Config::Reference => print!("{}", reference()?),
    }
    Ok(())
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use clap::CommandFactory;
    use ragwire_common::settings::{names_of, OLD_NAMES};

    /// Every setting of `ragwire serve`, with its key, flag and variable.
    fn settings() -> Vec<(String, String, String)> {
        let command = crate::Cli::command();
        let serve = command.find_subcommand("serve").expect("serve");
        serve
            .get_arguments()
            .filter_map(|a| {
                let var = a.get_env()?.to_string_lossy().into_owned();
                Some((a.get_id().to_string(), a.get_long()?.to_owned(), var))
            })
            .collect()
    }

    #[test]
    fn flags_and_variables_follow_from_the_keys() {
        let settings = settings();
        assert!(settings.len() > 50, "{}", settings.len());
        for (id, flag, var) in &settings {
            assert_eq!(
                (flag.clone(), var.clone()),
                names_of(id, var),
                "the names of `{id}` do not follow from it"
            );
        }
        for old in OLD_NAMES {
            assert!(
                settings.iter().any(|(id, _, _)| id == old.id),
                "{} has former names but is not a setting",
                old.id
            );
            assert!(
                settings
                    .iter()
                    .all(|(_, flag, var)| flag != old.flag && var != old.var),
                "a former name of {} is another setting's",
                old.id
            );
        }
    }

    /// The marker after which `docs/configuration.md` holds the generated
    /// reference.
    const MARKER: &str = "<!-- generated: settings reference below, do not edit by hand -->\n";

    #[test]
    fn the_configuration_docs_are_the_generated_reference() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let docs = std::fs::read_to_string(path).expect("docs/configuration.md");
        let (_, generated) = docs.split_once(MARKER).expect("the marker line");
        let expected = super::reference().expect("the reference");
        assert!(
            generated == expected,
            "docs/configuration.md is out of date: regenerate it with `scripts/config-docs`"
        );
        for var in [
            "NATS_URL",
            "RAGWIRE_LLM_BASE_URL",
            "QDRANT_URL",
            "RAGWIRE_HTTP_ADDR",
            "RAGWIRE_JOBS_BATCH",
        ] {
            assert!(expected.contains(&format!("`{var}`")), "{var} is missing");
        }
    }
}
