//! Checks of request fields that several handlers (and the job submission)
//! share. Each failure is a 400 (or 413 for too many items) that names the
//! field.

use ragwire_schemas::jobs::JobDocument;

use crate::error::Error;

/// Most hits one search or retrieve may ask for.
pub const MAX_TOP_K: usize = 1000;

/// Fails with 400 unless `items` is non-empty, and 413 when it is longer
/// than `max`.
pub fn check_count<T>(field: &str, items: &[T], max: usize) -> Result<(), Error> {
    if items.is_empty() {
        return Err(Error::bad_request(format!("`{field}` must not be empty")));
    }
    if items.len() > max {
        return Err(Error::TooLarge {
            what: format!("the number of items in `{field}`").into(),
            size: items.len(),
            limit: max,
        });
    }
    Ok(())
}

/// Fails with 400 when a string is empty or only white space. The field
/// name is only formatted for the error (`format_args!` costs nothing else).
pub fn check_text(field: impl std::fmt::Display, text: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::bad_request(format!("`{field}` must not be empty")));
    }
    Ok(())
}

/// Collection names: letters, digits, `_` and `-`, 1 to 64 characters (they
/// become folder names in the embedded store).
pub fn check_collection(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "`collection` is `{name}`; expected 1 to 64 letters, digits, `_` or `-`"
        )))
    }
}

/// A document named by a delete (or by `rag.index` with `replace`): a
/// document id ([`check_doc_id`]) that is also a plain name: no white space
/// around it, not a path that climbs or starts at the root (no `.` or `..`
/// segment, no leading `/`, no `//`, no `\`), and no percent-encoded
/// separator or dot (`%2F`, `%5C`, `%2E`, `%00`). A relative path such as
/// `docs/intro.md` (as `ragwire ingest` names documents) is a plain name.
pub fn check_doc_ref(field: &str, id: &str) -> Result<(), Error> {
    check_doc_id(field, id)?;
    let why = if id.trim() != id {
        Some("has white space around it")
    } else if id.starts_with('/') || id.contains("//") || id.contains('\\') {
        Some("is not a plain name (a leading `/`, `//` or `\\`)")
    } else if id
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        Some("is not a plain name (a `.` or `..` segment)")
    } else if percent_encoded_separator(id) {
        Some("is not a plain name (a percent-encoded separator)")
    } else {
        None
    };
    match why {
        None => Ok(()),
        // Long values and control characters are shortened and escaped
        // with every error message.
        Some(why) => Err(Error::bad_request(format!("`{field}` {why}: `{id}`"))),
    }
}

/// `%2F`, `%5C`, `%2E` or `%00`, in any case.
fn percent_encoded_separator(id: &str) -> bool {
    id.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1].to_ascii_uppercase(), w[2].to_ascii_uppercase()),
                (b'2', b'F') | (b'5', b'C') | (b'2', b'E') | (b'0', b'0')
            )
    })
}

/// Checks the fields search and retrieve share.
pub fn check_query(query: &str, collection: &str, top_k: usize) -> Result<(), Error> {
    check_text("query", query)?;
    check_collection(collection)?;
    if top_k == 0 || top_k > MAX_TOP_K {
        return Err(Error::bad_request(format!(
            "`top_k` is {top_k}; expected 1 to {MAX_TOP_K}"
        )));
    }
    Ok(())
}

/// Job ids: 1 to 64 letters and digits (they are hashes).
pub fn check_job_id(job_id: &str) -> Result<(), Error> {
    if job_id.is_empty() || job_id.len() > 64 || !job_id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(Error::bad_request(format!(
            "`job_id` `{job_id}` is not a job id"
        )));
    }
    Ok(())
}

/// A submitted document: an id, and `text` or at most `max_texts` `chunks`.
pub fn check_document(i: usize, doc: &JobDocument, max_texts: usize) -> Result<(), Error> {
    check_text(format_args!("documents[{i}].doc_id"), &doc.doc_id)?;
    match (&doc.text, &doc.chunks) {
        (Some(text), None) => check_text(format_args!("documents[{i}].text"), text),
        (None, Some(chunks)) => {
            if chunks.is_empty() || chunks.len() > max_texts {
                return Err(Error::bad_request(format!(
                    "`documents[{i}].chunks` must hold 1 to {max_texts} chunks"
                )));
            }
            for (j, chunk) in chunks.iter().enumerate() {
                check_text(format_args!("documents[{i}].chunks[{j}].text"), &chunk.text)?;
            }
            Ok(())
        }
        _ => Err(Error::bad_request(format!(
            "`documents[{i}]` needs `text` or `chunks`, one of them"
        ))),
    }
}

/// Longest document id, in bytes.
pub const MAX_DOC_ID: usize = 1024;

/// Document ids: not empty, at most [`MAX_DOC_ID`] bytes, no control
/// characters (they are written into stores and logs).
pub fn check_doc_id(field: &str, doc_id: &str) -> Result<(), Error> {
    if doc_id.trim().is_empty() {
        return Err(Error::bad_request(format!("`{field}` is empty")));
    }
    if doc_id.len() > MAX_DOC_ID {
        return Err(Error::bad_request(format!(
            "`{field}` is {} bytes; the limit is {MAX_DOC_ID}",
            doc_id.len()
        )));
    }
    if doc_id.chars().any(char::is_control) {
        return Err(Error::bad_request(format!(
            "`{field}` has a control character"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names() {
        assert!(check_collection("chunks_v2-en").is_ok());
        for bad in ["", "../etc", "a b", &"x".repeat(65), "a%2Fb", "a\n", ".."] {
            assert!(check_collection(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn doc_refs() {
        for good in ["nats", "docs/intro.md", "a.b", "x..y", "100%", "ü"] {
            assert!(check_doc_ref("doc_id", good).is_ok(), "{good}");
        }
        let long = "x".repeat(MAX_DOC_ID + 1);
        for bad in [
            "", " ", "a\u{0}b", "a\nb", " a", "/etc", "a//b", "a\\b", "..", "../x", "a/./b",
            "a/..", "a%2Fb", "a%2fb", "%2E%2E", "a%5Cb", "a%00", &long,
        ] {
            let err = check_doc_ref("doc_id", bad).unwrap_err().to_string();
            assert!(err.contains("`doc_id`"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn counts_and_texts() {
        assert!(check_count::<u8>("texts", &[], 3).is_err());
        let err = check_count("texts", &[1, 2, 3, 4], 3).unwrap_err();
        assert_eq!(err.to_body().code, 413);
        assert!(err.to_string().contains("`texts`"), "{err}");
        assert!(check_text("query", " \n").is_err());
        assert!(check_query("q", "c", 0).is_err());
        assert!(check_query("q", "c", MAX_TOP_K).is_ok());
        assert!(check_job_id("abc123").is_ok() && check_job_id("a/b").is_err());
    }
}
