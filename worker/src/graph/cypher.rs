//! The read-only guard for `graph.query`: caller Cypher is scanned for write
//! clauses before it is sent, skipping string literals, comments, quoted
//! names, properties, parameters and labels, so data that looks like a
//! clause stays data. The read transaction it then runs in is the second
//! line of defence on servers that enforce it (Neo4j does).

use crate::error::Error;

/// Clauses that write, change the schema or administer the server.
const WRITE_WORDS: &[&str] = &[
    "CREATE",
    "MERGE",
    "SET",
    "DELETE",
    "DETACH",
    "REMOVE",
    "DROP",
    "FOREACH",
    "LOAD",
    "INSERT",
    "ALTER",
    "RENAME",
    "GRANT",
    "DENY",
    "REVOKE",
    "START",
    "STOP",
    "TERMINATE",
    "USE",
];

/// Procedures that only read (lower case).
const READ_PROCEDURES: &[&str] = &[
    "db.labels",
    "db.relationshiptypes",
    "db.propertykeys",
    "db.indexes",
    "db.constraints",
    "db.info",
    "db.ping",
    "db.schema.visualization",
    "db.schema.nodetypeproperties",
    "db.schema.reltypeproperties",
    "db.index.fulltext.querynodes",
    "db.index.fulltext.queryrelationships",
    "db.index.vector.querynodes",
    "db.index.vector.queryrelationships",
    "dbms.components",
];

#[derive(Debug, PartialEq)]
enum Token {
    /// A bare word that can be a keyword.
    Word(String),
    /// A word that is a property, parameter, label or map key.
    Name(String),
    Dot,
    Other(char),
}

fn tokens(query: &str) -> Result<Vec<Token>, Error> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // The previous significant character, for `.x`, `$x` and `:x`.
    let mut prev = ' ';
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(Error::bad_request("`query` has an unterminated comment"));
                }
                i += 2;
            }
            '\'' | '"' | '`' => {
                let quote = c;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(Error::bad_request(format!(
                                "`query` has an unterminated {quote}-quoted text"
                            )))
                        }
                        Some('\\') if quote != '`' => i += 2,
                        Some(&q) if q == quote => {
                            // A doubled quote is an escaped one.
                            if chars.get(i + 1) == Some(&quote) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
                out.push(Token::Name(String::new()));
                prev = 'x';
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                let is_name = matches!(prev, '.' | '$' | ':') || next == Some(&':');
                out.push(if is_name {
                    Token::Name(word)
                } else {
                    Token::Word(word)
                });
                prev = 'x';
            }
            '.' => {
                out.push(Token::Dot);
                prev = '.';
                i += 1;
            }
            c => {
                out.push(Token::Other(c));
                prev = c;
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A 400 unless `query` only reads: no write or admin clause, and `CALL`
/// only of a subquery or a known read-only procedure.
pub fn check_read_only(query: &str) -> Result<(), Error> {
    let tokens = tokens(query)?;
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        let upper = word.to_ascii_uppercase();
        if WRITE_WORDS.contains(&upper.as_str()) {
            return Err(Error::bad_request(format!(
                "`query` contains `{upper}`: graph.query runs read-only Cypher (no CREATE, MERGE, SET, DELETE, REMOVE, DROP, LOAD CSV or writing procedures)"
            )));
        }
        if upper == "CALL" {
            if matches!(tokens.get(i + 1), Some(Token::Other('{'))) {
                continue;
            }
            let mut name = String::new();
            for t in &tokens[i + 1..] {
                match t {
                    Token::Word(w) | Token::Name(w) => name.push_str(&w.to_ascii_lowercase()),
                    Token::Dot => name.push('.'),
                    Token::Other(_) => break,
                }
            }
            if !READ_PROCEDURES.contains(&name.as_str()) {
                return Err(Error::bad_request(format!(
                    "`query` calls `{name}`: graph.query calls only subqueries and read-only procedures ({})",
                    READ_PROCEDURES.join(", ")
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass() {
        for q in [
            "MATCH (n:Person {id: $id})-[r*1..2]-(m) RETURN n, r, m LIMIT 10",
            "MATCH (n) WHERE n.name = 'CREATE (x)' RETURN n.created, n.set AS settings",
            "MATCH (n) WHERE n.note = \"it's DELETE\" RETURN n // DETACH DELETE n",
            "/* MERGE */ MATCH (n:`DROP`) RETURN n {.id, set: n.x}",
            "CALL db.labels() YIELD label RETURN label",
            "CALL { MATCH (n) RETURN n } RETURN count(*)",
            "MATCH (n) RETURN n.text = 'a\\'b; SET x' AS t",
            "MATCH (n:Setting)-[:REMOVED_BY]->(m) RETURN m",
            "UNWIND $ids AS id MATCH (n {id: id}) RETURN n ORDER BY n.id",
        ] {
            assert!(check_read_only(q).is_ok(), "{q}: {:?}", check_read_only(q));
        }
    }

    #[test]
    fn writes_are_refused() {
        for (q, word) in [
            ("CREATE (n:X)", "CREATE"),
            ("MATCH (n) MERGE (m {id: 1})", "MERGE"),
            ("MATCH (n) SET n.x = 1", "SET"),
            ("MATCH (n) DELETE n", "DELETE"),
            ("MATCH (n) detach delete n", "DETACH"),
            ("MATCH (n) REMOVE n.x", "REMOVE"),
            ("DROP INDEX x", "DROP"),
            ("LOAD CSV FROM 'file:///x' AS row RETURN row", "LOAD"),
            ("MATCH (n) FOREACH (x IN [1] | CREATE ())", "FOREACH"),
            ("MATCH (n) RETURN n UNION MATCH (m) CREATE (k)", "CREATE"),
            ("CALL { CREATE (n) } RETURN 1", "CREATE"),
            ("USE system SHOW USERS", "USE"),
            (
                "CALL apoc.create.node(['X'], {}) YIELD node RETURN node",
                "apoc.create.node",
            ),
            ("CALL dbms.killQuery('x')", "dbms.killquery"),
            ("MATCH (n) RETURN n; CREATE (m)", "CREATE"),
        ] {
            let err = check_read_only(q).expect_err(q).to_string();
            assert!(err.contains(word), "{q}: {err}");
        }
        assert!(check_read_only("MATCH (n) WHERE n.x = 'open RETURN n")
            .unwrap_err()
            .to_string()
            .contains("unterminated"));
    }
}
