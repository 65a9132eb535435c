//! `ragwire config reference`: every setting of `ragwire serve` (the worker's
//! and the producer's), with its variable, flag, default and doc, as the
//! Markdown of `docs/configuration.md`.

use clap::CommandFactory;

/// What to print about the settings.
#[derive(clap::Subcommand)]
pub enum Config {
    /// The settings reference in Markdown (`docs/configuration.md`).
    Reference,
}

/// The reference, generated from the settings' declarations.
pub fn reference() -> String {
    let command = crate::Cli::command();
    let serve = command
        .find_subcommand("serve")
        .expect("ragwire has a serve command");
    ragwire_common::settings::reference(serve)
}

pub fn run(command: Config) -> anyhow::Result<()> {
    match command {
        Config::Reference => print!("{}", reference()),
    }
    Ok(())
}

#[cfg(test)]
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
        let expected = super::reference();
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
