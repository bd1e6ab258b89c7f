//! WebSocket groups (docs/PROTOCOL.md "Groups"): a name → its members, so
//! one `ws_publish` reaches them all. A member is a WebSocket id and the
//! slot of its connection; each connection keeps the names it joined (the
//! same `Rc`, not a copy) to leave them all when it closes.

use crate::stats::IdMap;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
pub struct Groups {
    by_name: HashMap<Rc<[u8]>, IdMap>,
}

impl Groups {
    /// Adds the member; returns the group's name to keep when it was not
    /// one already.
    pub fn join(&mut self, name: &[u8], id: u64, slot: usize) -> Option<Rc<[u8]>> {
        let key = match self.by_name.get_key_value(name) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Rc<[u8]> = Rc::from(name);
                self.by_name.insert(k.clone(), IdMap::default());
                k
            }
        };
        let members = self.by_name.get_mut(name)?;
        members.insert(id, slot).is_none().then_some(key)
    }

    /// Removes the member; a group without members is forgotten.
    /// Returns whether it was one.
    pub fn leave(&mut self, name: &[u8], id: u64) -> bool {
        let Some(members) = self.by_name.get_mut(name) else { return false };
        let was = members.remove(&id).is_some();
        if members.is_empty() {
            self.by_name.remove(name);
        }
        was
    }

    /// Id → slot of every member.
    pub fn members(&self, name: &[u8]) -> Option<&IdMap> {
        self.by_name.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_leave_and_forget_empty_groups() {
        let mut g = Groups::default();
        let name = g.join(b"room", 1, 10).unwrap();
        assert_eq!(&*name, b"room");
        assert!(g.join(b"room", 1, 10).is_none(), "already a member");
        let again = g.join(b"room", 2, 11).unwrap();
        assert!(Rc::ptr_eq(&name, &again), "one name shared by the members");
        assert_eq!(g.members(b"room").unwrap().len(), 2);
        assert!(g.leave(b"room", 1));
        assert!(!g.leave(b"room", 1));
        assert!(!g.leave(b"other", 2));
        assert!(g.leave(b"room", 2));
        assert!(g.members(b"room").is_none());
        assert!(g.by_name.is_empty());
    }
}
