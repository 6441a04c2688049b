//! Large collections read back from conduct's own files at their final size.
//!
//! serde's `Vec` and map impls only trust a length prefix up to about 1 MiB of elements
//! (a hostile prefix must not allocate gigabytes), then grow by doubling. For the state and
//! spec cache of a 100,000-task project that means several reallocations of tens of
//! megabytes, with the old and the new buffer alive at once and up to half of the last one
//! unused: about 60 MB of peak memory at 100,000 tasks. These `deserialize_with` helpers
//! allocate once, at the encoded length, capped at [`MAX_PRESIZE`] elements (a corrupt
//! prefix then costs at most that much untouched address space, and reading fails anyway).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The most elements reserved up front, whatever a length prefix claims.
const MAX_PRESIZE: usize = 1 << 22;

/// A `Vec` reserved at its encoded length.
pub(crate) fn vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Elements<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Elements<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PRESIZE));
            while let Some(element) = seq.next_element()? {
                out.push(element);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Elements(PhantomData))
}

/// A `HashMap` reserved at its encoded length.
pub(crate) fn map<'de, D, K, V, S>(deserializer: D) -> Result<HashMap<K, V, S>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Eq + Hash,
    V: Deserialize<'de>,
    S: BuildHasher + Default,
{
    struct Entries<K, V, S>(PhantomData<(K, V, S)>);

    impl<'de, K, V, S> Visitor<'de> for Entries<K, V, S>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        S: BuildHasher + Default,
    {
        type Value = HashMap<K, V, S>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let capacity = access.size_hint().unwrap_or(0).min(MAX_PRESIZE);
            let mut out = HashMap::with_capacity_and_hasher(capacity, S::default());
            while let Some((key, value)) = access.next_entry()? {
                out.insert(key, value);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_map(Entries(PhantomData))
}

#[cfg(test)]
mod tests {
    use rustc_hash::FxHashMap;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Both {
        #[serde(deserialize_with = "super::vec")]
        list: Vec<u64>,
        #[serde(deserialize_with = "super::map")]
        index: FxHashMap<String, u32>,
    }

    #[test]
    fn reads_back_exactly_what_was_written_with_no_spare_room() {
        // More elements than serde reserves on trust (1 MiB of u64 = 131,072): its own
        // Vec would grow past the length by doubling.
        let both = Both {
            list: (0..200_000).collect(),
            index: (0..5000).map(|i| (format!("t{i}"), i)).collect(),
        };
        let bytes = postcard::to_allocvec(&both).unwrap();
        let back: Both = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, both);
        assert_eq!(
            back.list.capacity(),
            200_000,
            "allocated once, at the length"
        );
    }

    #[test]
    fn a_lying_length_prefix_is_an_error() {
        // A Vec<String> claiming 2^46 elements, followed by nothing.
        let bytes = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 << 4];
        #[derive(Deserialize)]
        struct Only(#[serde(deserialize_with = "super::vec")] Vec<String>);
        let read: Result<Only, _> = postcard::from_bytes(&bytes);
        assert!(read.map(|only| only.0.len()).is_err());
    }
}
