//! `StrictString`: a request string field that accepts only a JSON string.
//!
//! poem-openapi's `String` also accepts numbers and booleans (`{"username": 5}` becomes `"5"`);
//! a typed API should answer 400 to that instead of creating user "5". A NUL character
//! (`"\u0000"`) is refused too: no field has a use for it, and PostgreSQL cannot store or even
//! compare it (a lookup with one would fail as a database error).

use std::{borrow::Cow, ops::Deref};

use poem_openapi::{
    registry::MetaSchemaRef,
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrictString(pub String);

impl StrictString {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Deref for StrictString {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for StrictString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl Type for StrictString {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for StrictString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) if s.contains('\0') => {
                Err(ParseError::custom("must not contain NUL characters"))
            }
            Value::String(s) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for StrictString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_strings_parse() {
        assert!(StrictString::parse_from_json(Some(Value::String("a".into()))).is_ok());
        assert!(StrictString::parse_from_json(Some(serde_json::json!(5))).is_err());
        assert!(StrictString::parse_from_json(Some(serde_json::json!(true))).is_err());
        assert!(StrictString::parse_from_json(None).is_err());
        assert!(StrictString::parse_from_json(Some(Value::String("a\0b".into()))).is_err());
    }
}
