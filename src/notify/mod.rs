//! Step 8: the mail reqmail writes. `render` fills the templates, `compose` makes each
//! recipient's message with the headers that keep threads and loops in order.

pub mod compose;
pub mod render;
