//! Variable system for ModSecurity.
//!
//! This module handles variable resolution and collection management.

mod collection;
mod json;
mod json_body;
mod lossy;
mod multipart;
mod overlong;
mod request;
mod resolver;
mod response;
mod tx;
mod xml_body;
mod xml_dtd;

pub use collection::{Collection, HashMapCollection, MutableCollection};
pub use request::RequestData;
pub use resolver::VariableResolver;
pub use response::ResponseData;
pub use tx::TxCollection;
