//! Options that are either a switch (`true`/`false`) or a table of settings.
use serde::Deserialize;

/// `true`/`false` or a table, keeping the table's spans (an `untagged` enum would buffer
/// its input and lose them).
pub(super) fn bool_or_table<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<Result<bool, T>, D::Error> {
    struct Visitor<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
        type Value = Result<bool, T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.0)
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Ok(v))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Err)
        }
    }
    d.deserialize_any(Visitor(expecting, std::marker::PhantomData))
}
