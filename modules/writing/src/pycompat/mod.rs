//! Python behaviours Learning Observer's results depend on.
//!
//! Learning Observer's numbers and keys come out of Python's float arithmetic, its float
//! `repr`, its string classes (`str.isspace`, regex `\w`) and its JSON conversion of dict
//! keys. These helpers reproduce exactly the parts our reducers need.

pub mod float;
pub mod json_key;
pub mod text;
