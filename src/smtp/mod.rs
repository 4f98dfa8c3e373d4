//! SMTP: the client-facing session, the upstream client, and their shared codecs.

mod reply;

pub use reply::Reply;
