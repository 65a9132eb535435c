//! One marker type per subject, generated from the subject table
//! ([`for_each_subject!`](crate::for_each_subject)), each tying its
//! [`Subject`] to the request it takes and the reply it gives.
//!
//! The pairing is part of the message contract, so it lives here next to the
//! types it pairs rather than in a client: any Rust code that speaks to the
//! workers (the NATS client, a test, a document generator) can be typed by
//! it without depending on NATS. A client generic over [`Endpoint`] then
//! cannot decode a reply as the wrong type:
//! `call::<endpoint::JobsStatus>(&JobRef { .. })` returns a
//! [`StatusReply`](crate::jobs::StatusReply) and nothing else.

use serde::{de::DeserializeOwned, Serialize};

use crate::Subject;

/// A subject with its request and reply types.
pub trait Endpoint {
    /// The subject, below the prefix.
    const SUBJECT: Subject;
    /// What the subject takes, sent as JSON.
    type Request: Serialize;
    /// What it answers on success.
    type Reply: DeserializeOwned;
}

macro_rules! define_endpoints {
    ($( $(#[$doc:meta])* $variant:ident $name:ident $suffix:literal $path:literal
        $request:ty => $reply:ty; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $variant {}

            impl Endpoint for $variant {
                const SUBJECT: Subject = Subject::$variant;
                type Request = $request;
                type Reply = $reply;
            }
        )*
    };
}

crate::for_each_subject!(define_endpoints);

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<E: Endpoint>() -> Subject {
        E::SUBJECT
    }

    #[test]
    fn markers_follow_the_table() {
        assert_eq!(subject::<JobsStatus>(), Subject::JobsStatus);
        assert_eq!(subject::<GraphExtract>(), Subject::GraphExtract);
        assert_eq!(subject::<V1Models>(), Subject::V1Models);
    }
}
