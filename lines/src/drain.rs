//! Online Drain-style template mining over message content (the header already stripped).
//!
//! A line is split on ASCII whitespace, parameter-shaped tokens are masked (`mask`:
//! anything with a digit, paths, URLs, long hex ids, month and weekday names, and the
//! value of `key=value`), and the result is routed through a prefix tree keyed by token
//! count and the first token (He et al., "Drain", ICWS 2017).
//! The leaf holds candidate templates; the most similar one at or above the threshold
//! absorbs the line and turns its differing positions into wildcards, otherwise a new
//! template starts.
//!
//! Three departures from textbook Drain carry most of the accuracy and robustness:
//! - Similarity counts only positions that carry evidence: the template's words, and its
//!   masked parameters when the line puts a word there. Generalised wildcards and
//!   parameter-for-parameter positions are neutral.
//! - Two different *rigid* words (capitalised after leading punctuation: `Started`,
//!   `"GET`) never merge, since what-happened words are capitalised far more often than
//!   user, host or file names, which are what Drain is meant to generalise.
//!
//! - A first token that varies is a parameter: a line with no template in its own
//!   first-token leaf joins a template whose first position is already a wildcard, or one
//!   under another lower-case first word whose rest agrees with the line exactly on at
//!   least `MIN_SHARED_WORDS` words (`nginx: upstream timed out after <*>` and
//!   `haproxy: upstream timed out after <*>`); that template's first position becomes a
//!   wildcard and it moves, id unchanged, to the wildcard first-token leaf. Process names,
//!   thread names and hosts without digits then do not split one template per value.
//!
//! Known limits: templates and vocabulary grow without eviction, and a template never
//! splits once generalised. A varying first word followed by fewer than
//! `MIN_SHARED_WORDS` constant words (`cupsd startup succeeded`) still gives one template
//! per word, and one template per first word exists before the second word arrives.
//!
//! Invariants:
//! - No I/O and no clock: snapshots are plain serde values the caller persists.
//! - A `TemplateId` is never renumbered or reused; a template that generalises keeps it.
//! - `match_only(line) == Some(id)` exactly when `add(line)` would return the existing `id`.
//! - One `DrainConfig::default()` serves every source; nothing is tuned per dataset.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize, Serializer};

use crate::mask;

/// Similarity a line needs with a template to join it (see `Drain::add`).
pub const DEFAULT_SIMILARITY_THRESHOLD: f64 = 0.7;
/// Leading tokens used to route a line in the prefix tree (never its last token).
pub const DEFAULT_PREFIX_DEPTH: usize = 1;
/// Children per tree node before new tokens share the wildcard child.
pub const DEFAULT_MAX_CHILDREN: usize = 100;
/// Upper bound on `DrainConfig::prefix_depth`.
pub const MAX_PREFIX_DEPTH: usize = 8;
/// Constant words the rest of a line must share, exactly, with a template under another first
/// word for that first word to be taken for a parameter (a process name, a host). Fewer, and two
/// alternating words are as likely verbs (`creating`/`removing device node <*>`).
pub const MIN_SHARED_WORDS: u32 = 3;
/// Snapshot format version written by `Serialize`.
const SNAPSHOT_VERSION: u32 = 1;

/// Template token id of a position generalised over differing words.
const WILD: u32 = u32::MAX;
/// Token id of a masked parameter (`mask::is_variable`), in lines and templates.
const VAR: u32 = u32::MAX - 2;
/// Token id of a word the vocabulary has never stored; it equals no template token.
const UNKNOWN: u32 = u32::MAX - 1;

/// Stable identifier of a template; never reused or renumbered once issued.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateId(pub u32);

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

/// Drain parameters; `Default` is the one configuration used for every source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrainConfig {
    /// Minimum similarity (0..=1) for a line to join a template.
    pub similarity_threshold: f64,
    /// Leading tokens used for routing, at most `MAX_PREFIX_DEPTH`.
    pub prefix_depth: usize,
    /// Children per tree node (at least 2); further tokens share the wildcard child.
    pub max_children: usize,
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self {
            similarity_threshold: DEFAULT_SIMILARITY_THRESHOLD,
            prefix_depth: DEFAULT_PREFIX_DEPTH,
            max_children: DEFAULT_MAX_CHILDREN,
        }
    }
}

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot was written by an unknown format version.
    #[error("unsupported snapshot version {0}")]
    Version(u32),
    /// A configuration value is out of range.
    #[error("invalid config: {0}")]
    Config(&'static str),
    /// The vocabulary lists a word twice.
    #[error("duplicate word {0:?} in vocabulary")]
    DuplicateWord(String),
    /// A template refers to a word id the vocabulary lacks or has a malformed route.
    #[error("template {index}: {reason}")]
    Template { index: usize, reason: &'static str },
}

/// FxHash (rustc's hasher) for internal integer keys; never fed attacker-chosen bytes.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Interned words; ids are dense indices into `words`.
#[derive(Clone, Debug, Default)]
struct Vocab {
    // Default SipHash: words come from untrusted lines, so the map must resist HashDoS.
    ids: HashMap<Box<str>, u32>,
    words: Vec<Box<str>>,
    /// `is_rigid` of each word.
    rigid: Vec<bool>,
}

impl Vocab {
    fn get(&self, word: &str) -> u32 {
        self.ids.get(word).copied().unwrap_or(UNKNOWN)
    }

    fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        // Ids stay below UNKNOWN: a vocabulary of 4 billion words is out of memory first.
        let id = self.words.len() as u32;
        self.ids.insert(word.into(), id);
        self.words.push(word.into());
        self.rigid.push(is_rigid(word));
        id
    }

    /// Interns the word `token` masks to; a parameter token stays `VAR`.
    fn intern_token(&mut self, token: &str, buf: &mut String) -> u32 {
        match masked_word(token, buf) {
            Some(word) => self.intern(word),
            None => VAR,
        }
    }

    fn word(&self, id: u32) -> &str {
        self.words.get(id as usize).map_or("<*>", |w| w)
    }

    fn rigid(&self, id: u32) -> bool {
        self.rigid.get(id as usize).copied().unwrap_or(false)
    }
}

/// A prefix-tree node; a leaf (depth reached) stores its templates row by row.
#[derive(Clone, Debug, Default)]
struct Node {
    children: FxMap<u32, u32>,
    /// Template ids in creation order, one per row of `rows`.
    ids: Vec<u32>,
    /// Templates of this leaf, `width` token ids each.
    rows: Vec<u32>,
}

#[derive(Clone, Debug)]
struct Cluster {
    node: u32,
    slot: u32,
    count: u64,
}

/// Token ids and byte spans of the line being processed.
#[derive(Clone, Debug, Default)]
struct Tokens {
    ids: Vec<u32>,
    spans: Vec<(u32, u32)>,
    /// `is_rigid` of each token.
    rigid: Vec<bool>,
    /// Room to spell a keyed parameter's word.
    buf: String,
}

/// An online template miner; see the module docs.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "Snapshot")]
pub struct Drain {
    config: DrainConfig,
    vocab: Vocab,
    /// `nodes[0]` is the root; its children are keyed by token count.
    nodes: Vec<Node>,
    clusters: Vec<Cluster>,
    scratch: Tokens,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new(DrainConfig::default())
    }
}

impl Drain {
    /// Creates an empty miner; out-of-range config values are clamped.
    pub fn new(config: DrainConfig) -> Self {
        let config = DrainConfig {
            similarity_threshold: if config.similarity_threshold.is_nan() {
                DEFAULT_SIMILARITY_THRESHOLD
            } else {
                config.similarity_threshold.clamp(0.0, 1.0)
            },
            prefix_depth: config.prefix_depth.min(MAX_PREFIX_DEPTH),
            max_children: config.max_children.max(2),
        };
        Self {
            config,
            vocab: Vocab::default(),
            nodes: vec![Node::default()],
            clusters: Vec::new(),
            scratch: Tokens::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &DrainConfig {
        &self.config
    }

    /// Learns `content` (a message without its header), returns its cluster's stable id.
    pub fn add(&mut self, content: &str) -> TemplateId {
        let mut toks = std::mem::take(&mut self.scratch);
        tokenize(&self.vocab, content, &mut toks);
        let id = match self.find(&toks) {
            Some((at, slot)) => self.absorb(at, slot, &toks.ids),
            None => {
                // Only a new template grows the tree, so every leaf holds a template.
                let leaf = self.route_mut(content, &mut toks);
                for (t, &(s, e)) in toks.ids.iter_mut().zip(&toks.spans) {
                    if *t == UNKNOWN {
                        *t = self
                            .vocab
                            .intern_token(&content[s as usize..e as usize], &mut toks.buf);
                    }
                }
                self.push_cluster(leaf, &toks.ids, 1)
            }
        };
        self.scratch = toks;
        TemplateId(id)
    }

    /// The leaf and slot of the template a line joins, if any: the best match in the line's
    /// own leaf, else `first_token_match`.
    fn find(&self, toks: &Tokens) -> Option<(u32, usize)> {
        let leaf = self.route(&toks.ids);
        leaf.and_then(|l| self.best_match(l, toks, Scope::Leaf).map(|slot| (l, slot)))
            .or_else(|| self.first_token_match(leaf.unwrap_or(u32::MAX), toks))
    }

    /// Folds a line into the template at `slot` of leaf `at`: differing positions become
    /// wildcards. A template found under another first token (see `first_token_match`) has
    /// its first position generalised and moves to the leaf of the wildcard first token,
    /// keeping its id.
    fn absorb(&mut self, at: u32, slot: usize, ids: &[u32]) -> u32 {
        let width = ids.len();
        let node = &mut self.nodes[at as usize];
        let row = &mut node.rows[slot * width..(slot + 1) * width];
        for (t, l) in row.iter_mut().zip(ids) {
            if *t != *l && *t != WILD {
                *t = WILD;
            }
        }
        let id = node.ids[slot];
        self.clusters[id as usize].count += 1;
        let wild_first = row.first() == Some(&WILD) && self.route_len(width) > 0;
        if wild_first && let Some(target) = self.wild_first_leaf_mut(width, at) {
            self.move_cluster(id, target);
        }
        id
    }

    /// A template for a line whose first token routed it to `leaf` without a match there: a
    /// template under the wildcard first token whose first position is already generalised,
    /// else one under another first word that agrees with the line everywhere else, on at
    /// least [`MIN_SHARED_WORDS`] words (the first token is then a parameter: a process name,
    /// a host). Capitalised first words name what happened and never generalise this way.
    fn first_token_match(&self, leaf: u32, toks: &Tokens) -> Option<(u32, usize)> {
        let width = toks.ids.len();
        let first = *toks.ids.first()?;
        if self.route_len(width) == 0 || first == VAR || toks.rigid[0] {
            return None;
        }
        let len_node = *self.nodes[0].children.get(&(width as u32))?;
        let rest = &toks.ids[1..self.route_len(width)];
        if let Some(wild) = self.nodes[len_node as usize].children.get(&WILD)
            && let Some(at) = self.walk(*wild, rest)
            && at != leaf
            && let Some(slot) = self.best_match(at, toks, Scope::WildFirst)
        {
            return Some((at, slot));
        }
        let mut best: Option<(u32, usize)> = None;
        let mut keys: Vec<(&u32, &u32)> = self.nodes[len_node as usize].children.iter().collect();
        // Deterministic order: the first-issued key wins ties.
        keys.sort_unstable();
        for (&key, &child) in keys {
            if key == WILD || key == first || self.vocab.rigid(key) {
                continue;
            }
            let Some(at) = self.walk(child, rest) else {
                continue;
            };
            if at == leaf {
                continue;
            }
            if let Some(slot) = self.best_match(at, toks, Scope::OtherFirst) {
                let id = self.nodes[at as usize].ids[slot];
                if best.is_none_or(|(b_at, b_slot)| id < self.nodes[b_at as usize].ids[b_slot]) {
                    best = Some((at, slot));
                }
            }
        }
        best
    }

    /// Follows `keys` (routing tokens after the first) from `node` without creating nodes.
    fn walk(&self, mut node: u32, keys: &[u32]) -> Option<u32> {
        for &t in keys {
            let t = if t == VAR { WILD } else { t };
            let n = &self.nodes[node as usize];
            node = match n.children.get(&t) {
                Some(&child) => child,
                None if t != WILD && n.children.len() + 1 >= self.config.max_children => {
                    *n.children.get(&WILD)?
                }
                None => return None,
            };
        }
        Some(node)
    }

    /// The leaf a template now in `at` moves to once its first position is a wildcard: the
    /// same route with the first key replaced by the wildcard; `None` if it is there already.
    fn wild_first_leaf_mut(&mut self, width: usize, at: u32) -> Option<u32> {
        let len_node = *self.nodes[0].children.get(&(width as u32))?;
        // The route below the first key, read back from the tree.
        let mut path = Vec::new();
        let mut node = at;
        while node != len_node {
            let (parent, key) = self.parent_of(node)?;
            path.push(key);
            node = parent;
        }
        path.reverse();
        if path.first() == Some(&WILD) {
            return None;
        }
        let mut node = self.child_or_insert(len_node, WILD);
        for &key in path.iter().skip(1) {
            node = self.child_or_insert(node, key);
        }
        (node != at).then_some(node)
    }

    /// The parent of `node` and the key under which it hangs (a linear scan: only on the rare
    /// moves of a template).
    fn parent_of(&self, node: u32) -> Option<(u32, u32)> {
        self.nodes.iter().enumerate().find_map(|(i, n)| {
            n.children
                .iter()
                .find(|(_, c)| **c == node)
                .map(|(k, _)| (i as u32, *k))
        })
    }

    /// Moves template `id` (row included) to leaf `to`; the other templates of its old leaf
    /// keep their ids, their slots close up.
    fn move_cluster(&mut self, id: u32, to: u32) {
        let Cluster {
            node: from, slot, ..
        } = self.clusters[id as usize];
        let from_node = &mut self.nodes[from as usize];
        let width = from_node.rows.len() / from_node.ids.len();
        let slot = slot as usize;
        let row: Vec<u32> = from_node
            .rows
            .drain(slot * width..(slot + 1) * width)
            .collect();
        from_node.ids.remove(slot);
        let emptied = from_node.ids.is_empty();
        let shifted: Vec<u32> = from_node.ids[slot..].to_vec();
        for other in shifted {
            self.clusters[other as usize].slot -= 1;
        }
        let to_node = &mut self.nodes[to as usize];
        self.clusters[id as usize].node = to;
        self.clusters[id as usize].slot = to_node.ids.len() as u32;
        to_node.ids.push(id);
        to_node.rows.extend_from_slice(&row);
        // A leaf without templates is unhooked (the node itself stays, unused), so the tree is
        // the one a snapshot rebuilds from the templates' routes.
        let mut node = from;
        let mut empty = emptied;
        while empty && let Some((parent, key)) = self.parent_of(node) {
            let p = &mut self.nodes[parent as usize];
            p.children.remove(&key);
            empty = parent != 0 && p.children.is_empty() && p.ids.is_empty();
            node = parent;
        }
    }

    /// Finds the cluster `content` belongs to without learning anything: `Some(id)`
    /// exactly when `add(content)` would return the existing `id`.
    pub fn match_only(&self, content: &str) -> Option<TemplateId> {
        thread_local! {
            // Reused buffers: `match_only` borrows `self` shared, so it cannot use `scratch`.
            static TOKENS: std::cell::RefCell<Tokens> = std::cell::RefCell::default();
        }
        TOKENS.with(|cell| {
            let mut fresh = Tokens::default();
            // A re-entrant call (impossible today) would fall back to fresh buffers.
            let mut guard = cell.try_borrow_mut();
            let toks = match guard.as_deref_mut() {
                Ok(t) => t,
                Err(_) => &mut fresh,
            };
            tokenize(&self.vocab, content, toks);
            let (at, slot) = self.find(toks)?;
            Some(TemplateId(self.nodes[at as usize].ids[slot]))
        })
    }

    /// Renders a template: tokens joined by ' ', wildcards as `<*>`.
    pub fn template(&self, id: TemplateId) -> Option<String> {
        let row = self.row(id)?;
        let mut out = String::new();
        for (i, &t) in row.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(self.vocab.word(t));
        }
        Some(out)
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    /// True before the first line is learned.
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Every template with the number of lines it absorbed, in id order.
    pub fn templates(&self) -> impl Iterator<Item = (TemplateId, String, u64)> + '_ {
        self.clusters.iter().enumerate().filter_map(|(i, c)| {
            let id = TemplateId(i as u32);
            Some((id, self.template(id)?, c.count))
        })
    }

    /// Tokens used for routing a line of `width` tokens: the last token never routes.
    fn route_len(&self, width: usize) -> usize {
        self.config.prefix_depth.min(width.saturating_sub(1))
    }

    fn row(&self, id: TemplateId) -> Option<&[u32]> {
        let c = self.clusters.get(id.0 as usize)?;
        let node = &self.nodes[c.node as usize];
        let width = node.rows.len() / node.ids.len();
        let start = c.slot as usize * width;
        node.rows.get(start..start + width)
    }

    /// The leaf for `ids` as `add` would route it, or `None` where `add` would grow the
    /// tree (and so start a new template).
    fn route(&self, ids: &[u32]) -> Option<u32> {
        let mut node = *self.nodes[0].children.get(&(ids.len() as u32))?;
        for &t in &ids[..self.route_len(ids.len())] {
            let t = if t == VAR { WILD } else { t };
            let n = &self.nodes[node as usize];
            node = match n.children.get(&t) {
                Some(&child) => child,
                None if t != WILD && n.children.len() + 1 >= self.config.max_children => {
                    *n.children.get(&WILD)?
                }
                None => return None,
            };
        }
        Some(node)
    }

    /// Walks the tree for `toks`, creating nodes (and interning routing words) as needed.
    fn route_mut(&mut self, content: &str, toks: &mut Tokens) -> u32 {
        let mut node = self.child_or_insert(0, toks.ids.len() as u32);
        for i in 0..self.route_len(toks.ids.len()) {
            let t = if toks.ids[i] == VAR {
                WILD
            } else {
                toks.ids[i]
            };
            let n = &self.nodes[node as usize];
            node = match n.children.get(&t) {
                Some(&child) => child,
                None if t == WILD || n.children.len() + 1 >= self.config.max_children => {
                    self.child_or_insert(node, WILD)
                }
                None => {
                    let (s, e) = toks.spans[i];
                    let word = self
                        .vocab
                        .intern_token(&content[s as usize..e as usize], &mut toks.buf);
                    toks.ids[i] = word;
                    self.child_or_insert(node, word)
                }
            };
        }
        node
    }

    fn child_or_insert(&mut self, node: u32, key: u32) -> u32 {
        if let Some(&child) = self.nodes[node as usize].children.get(&key) {
            return child;
        }
        let child = self.nodes.len() as u32;
        self.nodes.push(Node::default());
        self.nodes[node as usize].children.insert(key, child);
        child
    }

    fn push_cluster(&mut self, leaf: u32, row: &[u32], count: u64) -> u32 {
        let id = self.clusters.len() as u32;
        let node = &mut self.nodes[leaf as usize];
        self.clusters.push(Cluster {
            node: leaf,
            slot: node.ids.len() as u32,
            count,
        });
        node.ids.push(id);
        node.rows.extend_from_slice(row);
        id
    }

    /// The slot of the leaf template most similar to `toks`, if similar enough.
    ///
    /// Positions count when the template holds a word, or a masked parameter the line
    /// fills with a word; generalised wildcards and parameter-for-parameter never do.
    /// Similarity is the fraction of counted positions where the words agree.
    /// `scope` narrows the candidates for `first_token_match`.
    fn best_match(&self, leaf: u32, toks: &Tokens, scope: Scope) -> Option<usize> {
        let node = &self.nodes[leaf as usize];
        let ids = &toks.ids;
        let width = ids.len();
        let mut best: Option<(usize, u32, u32)> = None;
        'rows: for slot in 0..node.ids.len() {
            let row = &node.rows[slot * width..(slot + 1) * width];
            let skip = match scope {
                Scope::Leaf => 0,
                Scope::WildFirst if row[0] == WILD => 1,
                Scope::OtherFirst if row[0] != WILD && row[0] != VAR => 1,
                Scope::WildFirst | Scope::OtherFirst => continue,
            };
            let (mut same, mut counted) = (0u32, 0u32);
            for (i, (&t, &l)) in row.iter().zip(ids).enumerate().skip(skip) {
                match t {
                    WILD => {}
                    VAR => counted += u32::from(l != VAR),
                    _ => {
                        counted += 1;
                        if t == l {
                            same += 1;
                        } else if l != VAR && (toks.rigid[i] || self.vocab.rigid(t)) {
                            continue 'rows;
                        }
                    }
                }
            }
            // Under another first word the rest must agree exactly, on enough words.
            if scope == Scope::OtherFirst && (same != counted || same < MIN_SHARED_WORDS) {
                continue;
            }
            // Compare same/counted fractions without dividing; ties go to more agreement.
            let better = best.is_none_or(|(_, bs, bc)| {
                let (a, b) = (
                    u64::from(same) * u64::from(bc.max(1)),
                    u64::from(bs) * u64::from(counted.max(1)),
                );
                let (a, b) = if counted == 0 {
                    (1, 0)
                } else if bc == 0 {
                    (0, 1)
                } else {
                    (a, b)
                };
                a > b || (a == b && same > bs)
            });
            if better {
                best = Some((slot, same, counted));
            }
        }
        let (slot, same, counted) = best?;
        let sim = if counted == 0 {
            1.0
        } else {
            f64::from(same) / f64::from(counted)
        };
        (sim >= self.config.similarity_threshold).then_some(slot)
    }
}

/// Which templates of a leaf `Drain::best_match` considers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// All of them (the line's own leaf).
    Leaf,
    /// Those whose first position is a generalised wildcard; the first position is not
    /// compared.
    WildFirst,
    /// Those with a word first; the first position is not compared.
    OtherFirst,
}

/// True for words that name *what* happened (`Started`, `"GET`, `(Lifecycle`) rather
/// than *whom* it happened to: after leading punctuation they start with a capital.
/// Two different rigid words never generalise into one wildcard, since identifiers
/// such as user, host and file names are conventionally lower case.
fn is_rigid(word: &str) -> bool {
    word.bytes()
        .find(|b| b.is_ascii_alphanumeric())
        .is_some_and(|b| b.is_ascii_uppercase())
}

/// The vocabulary word for `token`, spelled in `buf` when partly masked; `None` for a
/// parameter.
fn masked_word<'a>(token: &'a str, buf: &'a mut String) -> Option<&'a str> {
    match mask::mask(token) {
        mask::Masked::Word(word) => Some(word),
        mask::Masked::Param => None,
        mask::Masked::Keyed { key, tail } => {
            buf.clear();
            buf.push_str(key);
            buf.push_str("<*>");
            buf.push_str(tail);
            Some(buf)
        }
    }
}

/// Splits `content` on ASCII whitespace into masked, interned token ids.
fn tokenize(vocab: &Vocab, content: &str, out: &mut Tokens) {
    out.ids.clear();
    out.spans.clear();
    out.rigid.clear();
    let bytes = content.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            break;
        }
        // Whitespace is ASCII, so `start..i` lies on char boundaries.
        let token = &content[start..i];
        out.ids.push(match masked_word(token, &mut out.buf) {
            Some(word) => vocab.get(word),
            None => VAR,
        });
        out.rigid.push(is_rigid(token));
        out.spans.push((start as u32, i as u32));
    }
}

/// The serialized form of a `Drain`: config, vocabulary and templates in id order.
/// Routing nodes are rebuilt from each template's `route` on restore.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    version: u32,
    config: DrainConfig,
    words: Vec<String>,
    templates: Vec<SnapshotTemplate>,
}

/// One template.
/// `route` holds the tree keys below the token count, `None` for the wildcard child.
/// `tokens` index `Snapshot::words`; `SNAP_WILD` is a generalised position and
/// `SNAP_VAR` a masked parameter.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotTemplate {
    route: Vec<Option<u32>>,
    tokens: Vec<i64>,
    count: u64,
}

/// `SnapshotTemplate::tokens` code of a generalised position.
const SNAP_WILD: i64 = -1;
/// `SnapshotTemplate::tokens` code of a masked parameter.
const SNAP_VAR: i64 = -2;

impl Serialize for Drain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let opt = |t: u32| (t != WILD).then_some(t);
        // Each leaf's route is the key path from the root, recorded once per leaf.
        let mut route_of: FxMap<u32, Vec<Option<u32>>> = FxMap::default();
        let mut stack = vec![(0u32, Vec::new())];
        while let Some((node, path)) = stack.pop() {
            for (&key, &child) in &self.nodes[node as usize].children {
                let mut p: Vec<Option<u32>> = path.clone();
                // The first key is the token count, not part of the route.
                if node != 0 {
                    p.push(opt(key));
                }
                stack.push((child, p));
            }
            route_of.insert(node, path);
        }
        let templates = self
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| SnapshotTemplate {
                route: route_of.get(&c.node).cloned().unwrap_or_default(),
                tokens: self
                    .row(TemplateId(i as u32))
                    .unwrap_or_default()
                    .iter()
                    .map(|&t| match t {
                        WILD => SNAP_WILD,
                        VAR => SNAP_VAR,
                        w => i64::from(w),
                    })
                    .collect(),
                count: c.count,
            })
            .collect();
        Snapshot {
            version: SNAPSHOT_VERSION,
            config: self.config.clone(),
            words: self.vocab.words.iter().map(|w| w.to_string()).collect(),
            templates,
        }
        .serialize(serializer)
    }
}

impl TryFrom<Snapshot> for Drain {
    type Error = SnapshotError;

    fn try_from(snap: Snapshot) -> Result<Self, SnapshotError> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(snap.version));
        }
        let c = &snap.config;
        if !(0.0..=1.0).contains(&c.similarity_threshold) {
            return Err(SnapshotError::Config(
                "similarity_threshold must lie in 0..=1",
            ));
        }
        if c.prefix_depth > MAX_PREFIX_DEPTH {
            return Err(SnapshotError::Config("prefix_depth too large"));
        }
        if c.max_children < 2 {
            return Err(SnapshotError::Config("max_children must be at least 2"));
        }
        let mut drain = Drain::new(snap.config);
        for word in snap.words {
            if drain.vocab.ids.contains_key(word.as_str()) {
                return Err(SnapshotError::DuplicateWord(word));
            }
            drain.vocab.intern(&word);
        }
        let n_words = drain.vocab.words.len();
        let word = |w: u32| ((w as usize) < n_words).then_some(w);
        let decode = |t: i64| match t {
            SNAP_WILD => Some(WILD),
            SNAP_VAR => Some(VAR),
            w => u32::try_from(w).ok().and_then(word),
        };
        for (index, tpl) in snap.templates.into_iter().enumerate() {
            let bad = |reason| SnapshotError::Template { index, reason };
            if tpl.route.len() != drain.route_len(tpl.tokens.len()) {
                return Err(bad("route length does not match prefix_depth"));
            }
            let row: Vec<u32> = tpl
                .tokens
                .iter()
                .map(|&t| decode(t))
                .collect::<Option<_>>()
                .ok_or(bad("word id out of range"))?;
            let mut node = drain.child_or_insert(0, row.len() as u32);
            for &key in &tpl.route {
                let key = match key {
                    None => WILD,
                    Some(w) => word(w).ok_or(bad("route word id out of range"))?,
                };
                node = drain.child_or_insert(node, key);
            }
            drain.push_cluster(node, &row, tpl.count);
        }
        Ok(drain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn(lines: &[&str]) -> (Drain, Vec<TemplateId>) {
        let mut d = Drain::default();
        let ids = lines.iter().map(|l| d.add(l)).collect();
        (d, ids)
    }

    #[test]
    fn generalises_and_keeps_id() {
        let (d, ids) = learn(&[
            "session opened for user cyrus by (uid=0)",
            "session opened for user news by (uid=0)",
            "connection closed by 10.0.0.1",
        ]);
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_eq!(
            d.template(ids[0]).as_deref(),
            Some("session opened for user <*> by (uid=<*>)")
        );
        assert_eq!(
            d.template(ids[2]).as_deref(),
            Some("connection closed by <*>")
        );
        assert_eq!(d.len(), 2);
        let counts: Vec<u64> = d.templates().map(|t| t.2).collect();
        assert_eq!(counts, [2, 1]);
    }

    #[test]
    fn match_only_learns_nothing() {
        let (d, ids) = learn(&["disk sda is full now", "disk sdb is full now"]);
        assert_eq!(ids[0], ids[1]);
        assert_eq!(d.match_only("disk sdc is full now"), Some(ids[0]));
        assert_eq!(d.match_only("disk sdc is Full now"), None);
        assert_eq!(d.match_only("something else entirely"), None);
        assert_eq!(d.match_only(""), None);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn empty_and_odd_lines() {
        let mut d = Drain::default();
        let a = d.add("");
        assert_eq!(d.add("   "), a);
        assert_eq!(d.template(a).as_deref(), Some(""));
        let b = d.add("héllo wörld ✓");
        assert_eq!(d.template(b).as_deref(), Some("héllo wörld ✓"));
        assert_eq!(d.template(TemplateId(99)), None);
    }

    #[test]
    fn snapshot_round_trip_keeps_ids() {
        let lines = [
            "Failed password for root from 1.2.3.4 port 22 ssh2",
            "Failed password for admin from 1.2.3.5 port 23 ssh2",
            "Accepted publickey for git from 5.6.7.8 port 24 ssh2",
            "session opened for user news by (uid=0)",
            "PacketResponder 1 for block blk_-123 terminating",
        ];
        let (d, ids) = learn(&lines);
        let json = serde_json::to_string(&d).unwrap();
        let mut restored: Drain = serde_json::from_str(&json).unwrap();
        assert_eq!(
            serde_json::to_string(&restored).unwrap(),
            json,
            "snapshots are canonical"
        );
        assert_eq!(restored.len(), d.len());
        for (line, id) in lines.iter().zip(&ids) {
            assert_eq!(restored.match_only(line), Some(*id));
            assert_eq!(restored.template(*id), d.template(*id));
        }
        for (line, id) in lines.iter().zip(&ids) {
            assert_eq!(restored.add(line), *id);
        }
        assert_eq!(
            restored.add("Failed password for guest from 9.9.9.9 port 1 ssh2"),
            ids[0]
        );
    }

    proptest::proptest! {
        /// `match_only` predicts `add` exactly, before and after a snapshot round trip.
        #[test]
        fn match_only_predicts_add(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec!["a", "b", "c", "d", "Up", "Down", "x=1", "7", "/p", "for"]),
                    0..6,
                ),
                1..60,
            )
        ) {
            let mut d = Drain::default();
            for (i, words) in lines.iter().enumerate() {
                let line = words.join(" ");
                if i == lines.len() / 2 {
                    d = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
                }
                let predicted = d.match_only(&line);
                let before = d.len();
                let id = d.add(&line);
                match predicted {
                    Some(p) => proptest::prop_assert!(p == id && d.len() == before),
                    None => proptest::prop_assert!(id.0 as usize == before && d.len() == before + 1),
                }
            }
        }
    }

    #[test]
    fn snapshot_rejects_garbage() {
        let bad = r#"{"version":1,"config":{},"words":["a"],"templates":[{"route":[],"tokens":[7],"count":1}]}"#;
        assert!(serde_json::from_str::<Drain>(bad).is_err());
        let bad = r#"{"version":9,"config":{},"words":[],"templates":[]}"#;
        assert!(serde_json::from_str::<Drain>(bad).is_err());
        let ok = r#"{"version":1,"config":{},"words":[],"templates":[]}"#;
        assert!(serde_json::from_str::<Drain>(ok).unwrap().is_empty());
    }
}
