//! What simulated clients do over turmoil's network, with the client libraries a real one
//! would use: [`console`] (a TD appending events), [`display`] (table TVs, phones and venue
//! screens watching over WebSocket), on top of [`http`] and [`ws`].

pub mod console;
pub mod display;
pub mod http;
pub mod ws;
