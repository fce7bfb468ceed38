//! The lists of the running config, for `/metrics` (the config compiles them; this holds
//! them once it has compiled whole).
use super::list::IpList;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Lists {
    lists: Mutex<Vec<Arc<IpList>>>,
}

impl Lists {
    pub fn commit(&self, lists: Vec<Arc<IpList>>) {
        *self.lists.lock().unwrap() = lists;
    }

    pub fn all(&self) -> Vec<Arc<IpList>> {
        self.lists.lock().unwrap().clone()
    }
}
