//! The desk's partners: `[[vendors]]`, outside companies that work on tickets under
//! ticket numbers of their own, and `[[sites]]`, the other reqmail installations of the
//! organisation that tickets are transferred to and from.

use serde::Deserialize;

use super::oauth::Secret;

/// A peer reqmail installation: its help alias and the key both sides sign transfers with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// What `Transfer: NAME` names.
    pub name: String,
    /// The peer's help alias (its `mail.address`).
    pub address: String,
    /// Shared with the peer, at least 16 characters: transfers are signed with it.
    pub key: Secret,
}

impl SiteConfig {
    pub fn writes_from(&self, address: &str) -> bool {
        address.eq_ignore_ascii_case(&self.address)
    }
}

/// Problems of `[[sites]]`, each naming the table and key.
pub fn site_problems(sites: &[SiteConfig], own_address: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, site) in sites.iter().enumerate() {
        let key = format!("sites[{index}] ({:?})", site.name);
        if site.name.trim().is_empty() {
            problems.push(format!("sites[{index}]: name is empty"));
        }
        if sites[..index].iter().any(|earlier| earlier.name.eq_ignore_ascii_case(&site.name) || earlier.writes_from(&site.address)) {
            problems.push(format!("{key}: the name or address is used twice"));
        }
        if super::split_address(&site.address).is_none() {
            problems.push(format!("{key}: address = {:?} is not an address like help@other-site.example", site.address));
        }
        if site.writes_from(own_address) {
            problems.push(format!("{key}: address is this site's own mail.address; name the peer's help alias"));
        }
        if site.key.expose().len() < 16 {
            problems.push(format!("{key}: key must be at least 16 characters long (the same on both sites)"));
        }
    }
    problems
}

/// One vendor: where their support desk is, how their ticket numbers look, and how
/// long they have to answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorConfig {
    /// What `Vendor: NAME` names.
    pub name: String,
    /// Their support desk's address: letters go there, and their replies come from it.
    pub address: String,
    /// Their ticket number in a subject, as a regular expression, e.g. `CASE-\d+`.
    pub tag: VendorTag,
    /// How long they have to answer our letter, in working time, e.g. `4h`, `2d`.
    pub response: String,
}

/// A vendor's ticket-number pattern, compiled when the configuration is read.
#[derive(Debug, Clone)]
pub struct VendorTag(regex::Regex);

impl<'de> Deserialize<'de> for VendorTag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<VendorTag, D::Error> {
        let pattern = String::deserialize(deserializer)?;
        let tag = regex::Regex::new(&pattern)
            .map_err(|error| serde::de::Error::custom(format!("tag = {pattern:?} is not a regular expression: {error}")))?;
        Ok(VendorTag(tag))
    }
}

impl VendorTag {
    /// The vendor's ticket number in `subject`, as written there.
    pub fn find(&self, subject: &str) -> Option<String> {
        self.0.find(subject).map(|found| found.as_str().to_string())
    }
}

impl VendorConfig {
    /// Whether `address` is this vendor's desk.
    pub fn writes_from(&self, address: &str) -> bool {
        address.eq_ignore_ascii_case(&self.address)
    }
}

/// Problems of `[[vendors]]`, each naming the table and key.
pub fn vendor_problems(vendors: &[VendorConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, vendor) in vendors.iter().enumerate() {
        let key = format!("vendors[{index}] ({:?})", vendor.name);
        if vendor.name.trim().is_empty() {
            problems.push(format!("vendors[{index}]: name is empty"));
        }
        if vendors[..index].iter().any(|earlier| earlier.name.eq_ignore_ascii_case(&vendor.name)) {
            problems.push(format!("{key}: the name is used twice"));
        }
        if super::split_address(&vendor.address).is_none() {
            problems.push(format!("{key}: address = {:?} is not an address like support@vendor.example", vendor.address));
        }
        if vendor.tag.0.is_match("") {
            problems.push(format!("{key}: tag = {:?} matches every subject; write their number's shape, e.g. CASE-\\d+", vendor.tag.0.as_str()));
        }
    }
    problems
}
