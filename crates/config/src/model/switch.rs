//! Options that are either a single value (a switch `true`/`false`, a duration) or a
//! table of settings.
use serde::de::{Error, Unexpected};
use serde::Deserialize;

/// `true`/`false` or a table, keeping the table's spans (an `untagged` enum would buffer
/// its input and lose them).
pub(super) fn bool_or_table<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<Result<bool, T>, D::Error> {
    match scalar_or_table(d, expecting)? {
        Ok(Scalar::Bool(on)) => Ok(Ok(on)),
        Ok(Scalar::Text(text)) => Err(D::Error::invalid_type(Unexpected::Str(&text), &expecting)),
        Err(table) => Ok(Err(table)),
    }
}

/// A string or a table, keeping the table's spans.
pub(super) fn text_or_table<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<Result<String, T>, D::Error> {
    match scalar_or_table(d, expecting)? {
        Ok(Scalar::Text(text)) => Ok(Ok(text)),
        Ok(Scalar::Bool(on)) => Err(D::Error::invalid_type(Unexpected::Bool(on), &expecting)),
        Err(table) => Ok(Err(table)),
    }
}

enum Scalar {
    Bool(bool),
    Text(String),
}

fn scalar_or_table<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<Result<Scalar, T>, D::Error> {
    struct Visitor<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
        type Value = Result<Scalar, T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.0)
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Ok(Scalar::Bool(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Ok(Scalar::Text(v.to_owned())))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Err)
        }
    }
    d.deserialize_any(Visitor(expecting, std::marker::PhantomData))
}
