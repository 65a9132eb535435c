//! `ragwire collections ls | show NAME | rm NAME` and
//! `ragwire docs rm COLLECTION DOC_ID`: the vector collections from the
//! command line. `ls` prints a table; the others print the reply as JSON.

use ragwire_client::endpoint::{CollectionsDrop, CollectionsList, CollectionsShow, DocsDelete};
use ragwire_common::CommonConfig;
use ragwire_schemas::collections::{CollectionInfo, CollectionRef, DocRef, ListRequest};

/// `ragwire collections`.
#[derive(clap::Args)]
pub struct Collections {
    #[command(flatten)]
    common: CommonConfig,
    #[command(subcommand)]
    what: What,
}

/// What to do with collections.
#[derive(clap::Subcommand)]
enum What {
    /// Every collection: points, dimension, keyword search.
    Ls {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One collection.
    Show { name: String },
    /// Delete a collection with all its points.
    Rm { name: String },
}

/// `ragwire docs`.
#[derive(clap::Args)]
pub struct Docs {
    #[command(flatten)]
    common: CommonConfig,
    #[command(subcommand)]
    what: DocsWhat,
}

/// What to do with documents.
#[derive(clap::Subcommand)]
enum DocsWhat {
    /// Delete every chunk of a document, and what it contributed to the
    /// graph.
    Rm {
        collection: String,
        doc_id: String,
        /// Leave the document's contribution to the graph.
        #[arg(long)]
        keep_graph: bool,
    },
}

pub async fn run(args: Collections) -> anyhow::Result<()> {
    let rag = args.common.client("ragwire-collections").await?;
    let out = match args.what {
        What::Ls { json } => {
            let reply = rag.call::<CollectionsList>(&ListRequest {}).await?;
            if json {
                serde_json::to_string_pretty(&reply.collections)?
            } else {
                table(&reply.collections)
            }
        }
        What::Show { name } => {
            let request = CollectionRef { collection: name };
            let reply = rag.call::<CollectionsShow>(&request).await?;
            serde_json::to_string_pretty(&reply.collection)?
        }
        What::Rm { name } => {
            let request = CollectionRef { collection: name };
            let reply = rag.call::<CollectionsDrop>(&request).await?;
            serde_json::to_string_pretty(&reply)?
        }
    };
    println!("{out}");
    Ok(())
}

pub async fn run_docs(args: Docs) -> anyhow::Result<()> {
    let rag = args.common.client("ragwire-docs").await?;
    let DocsWhat::Rm {
        collection,
        doc_id,
        keep_graph,
    } = args.what;
    let request = DocRef {
        graph: !keep_graph,
        ..DocRef::new(collection, doc_id)
    };
    let reply = rag.call::<DocsDelete>(&request).await?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    Ok(())
}

/// The collections as aligned columns.
fn table(collections: &[CollectionInfo]) -> String {
    let width = collections
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        .max("collection".len());
    let mut out = format!(
        "{:width$}  {:>10}  {:>5}  keywords",
        "collection", "points", "dim"
    );
    for c in collections {
        let keywords = if c.keywords { "yes" } else { "no" };
        out.push_str(&format!(
            "\n{:width$}  {:>10}  {:>5}  {keywords}",
            c.name, c.points, c.dim
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns() {
        let info = |name: &str, points| CollectionInfo {
            name: name.into(),
            points,
            dim: 384,
            keywords: points > 1,
        };
        let out = table(&[info("kb", 12), info("a-much-longer-name", 1)]);
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("kb  ") && lines[1].ends_with("yes"),
            "{out}"
        );
        assert!(lines[2].ends_with("no"), "{out}");
        assert_eq!(lines[0].find("keywords"), Some(lines[1].len() - 3), "{out}");
        assert_eq!(lines[1].len(), lines[2].len() + 1, "{out}");
    }
}
