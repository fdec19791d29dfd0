//! Serde helpers that accept what real NetBackup servers send: numbers as int, float or string, and null anywhere.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, Visitor};
use std::fmt;

/// null, unit, arrays and objects → `None` (consumed, never an error): shared by the visitors below.
macro_rules! absent_and_compound_are_none {
    () => {
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.is_finite().then_some(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(if v { 1.0 } else { 0.0 }))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
    }
    absent_and_compound_are_none!();
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

/// Any JSON value → `Option<f64>`; non-numbers become `None` instead of failing the page.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(NumVisitor)
}

/// Any JSON value → `Option<i64>`; floats are truncated (`1024.0` → 1024), out-of-range values saturate.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(d.deserialize_any(NumVisitor)?.map(|v| v as i64))
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((!v.is_empty()).then(|| v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok((!v.is_empty()).then_some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    absent_and_compound_are_none!();
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(StrVisitor)
    }
}

/// Any scalar → `Option<String>`; empty strings, null, arrays and objects become `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StrVisitor)
}

/// Booleans as NetBackup sends them: `true`/`false`, `0`/`1`, or `"true"`/`"false"`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match d.deserialize_any(StrVisitor)?.as_deref() {
        Some("true" | "1" | "TRUE" | "True") => Some(true),
        Some("false" | "0" | "FALSE" | "False") => Some(false),
        _ => None,
    })
}

/// A list of objects as NetBackup sends it: `null`, a non-list or a missing key → `None`; list elements that are
/// not objects of the expected shape are skipped instead of failing the page.
pub fn opt_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Element<T> {
        Valid(T),
        Other(IgnoredAny),
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Shape<T> {
        List(Vec<Element<T>>),
        Other(IgnoredAny),
    }
    Ok(match Option::<Shape<T>>::deserialize(d)? {
        Some(Shape::List(v)) => Some(
            v.into_iter()
                .filter_map(|e| match e {
                    Element::Valid(t) => Some(t),
                    Element::Other(_) => None,
                })
                .collect(),
        ),
        _ => None,
    })
}

/// A nested object as NetBackup sends it: `null`, a non-object or a missing key → `None`; an object whose fields
/// do not fit is `None` too, instead of failing the page.
pub fn opt_obj<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Shape<T> {
        Valid(T),
        Other(IgnoredAny),
    }
    Ok(match Option::<Shape<T>>::deserialize(d)? {
        Some(Shape::Valid(t)) => Some(t),
        _ => None,
    })
}
