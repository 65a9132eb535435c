//! `rag.v1.models` (`GET /v1/models`): the model names a request may use.

use ragwire_schemas::openai::{ModelsReply, ModelsRequest};

use crate::error::Error;
use crate::state::State;

/// The chat models (aliases, the models they map to, the default and
/// extraction aliases) and the embedding model.
pub async fn handle(state: &State, _: ModelsRequest) -> Result<ModelsReply, Error> {
    let mut names = state.llm.model_names();
    names.push(state.embedder.model().to_owned());
    names.sort();
    names.dedup();
    Ok(ModelsReply::new(names))
}

impl super::Encode for ModelsReply {
    fn encode(self) -> Result<bytes::Bytes, Error> {
        super::openai_object(&self)
    }
}
