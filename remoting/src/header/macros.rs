//! `command_header!`: declares a header struct and its [`CommandHeader`](super::CommandHeader) impl.
//!
//! ```ignore
//! command_header! {
//!     /// doc
//!     pub struct PullMessageRequestHeader + rpc {
//!         req consumer_group: String = "consumerGroup",
//!         opt subscription: String = "subscription",
//!     }
//! }
//! ```
//!
//! `req` fields are typed `T` and must be present; `opt` fields are `Option<T>`. `+ rpc` adds a
//! `pub rpc: RpcFields` member carrying the J5 base-class fields (`ns`, `nsd`, `bname`, `oway`,
//! `lo`). Decoding walks `extFields` once and matches each key against the declared ones, so a
//! header costs one pass and no allocation beyond the strings it must own.

macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $(+ $rpc:ident)? {
            $(
                $(#[$fmeta:meta])*
                $kind:ident $field:ident : $ty:ty = $key:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[doc = concat!("Wire key `", $key, "`.")]
                pub $field: header_field_ty!($kind $ty),
            )*
            $(
                /// J5 base-class fields (`ns`, `nsd`, `bname`, `oway`, `lo`).
                pub $rpc: $crate::header::RpcFields,
            )?
        }

        impl $name {
            /// The wire keys of this header's own fields, in declaration order.
            pub const WIRE_KEYS: &'static [&'static str] = &[$($key),*];
        }

        impl $crate::header::CommandHeader for $name {
            fn write_to(&self, ext: &mut $crate::command::ExtFields) {
                $( header_field_write!($kind, ext, $key, &self.$field); )*
                $( $crate::header::CommandHeader::write_to(&self.$rpc, ext); )?
            }

            fn read_from(ext: &$crate::command::ExtFields) -> $crate::error::Result<Self> {
                $( let mut $field: Option<&str> = None; )*
                $( let mut $rpc = $crate::header::RpcFields::default(); )?
                for (key, raw) in ext {
                    match key.as_ref() {
                        $( $key => $field = Some(raw.as_str()), )*
                        _other => { $( $rpc.accept(_other, raw); )? }
                    }
                }
                Ok(Self {
                    $( $field: header_field_read!($kind $ty, $key, $field)?, )*
                    $( $rpc, )?
                })
            }
        }
    };
}

macro_rules! header_field_ty {
    (req $ty:ty) => { $ty };
    (opt $ty:ty) => { Option<$ty> };
}

macro_rules! header_field_read {
    (req $ty:ty, $key:literal, $raw:expr) => {
        $crate::header::value::read_required::<$ty>($key, $raw)
    };
    (opt $ty:ty, $key:literal, $raw:expr) => {
        $crate::header::value::read_optional::<$ty>($key, $raw)
    };
}

macro_rules! header_field_write {
    (req, $ext:ident, $key:literal, $value:expr) => {
        $crate::header::value::write_required($ext, $key, $value)
    };
    (opt, $ext:ident, $key:literal, $value:expr) => {
        $crate::header::value::write_optional($ext, $key, $value)
    };
}
