//! Walking list endpoints: offset or cursor paging, several slices or pages in flight at once, one deadline.

use super::{Client, Erased, Parse};
use crate::config::ApiVersion;
use crate::netbackup::models::{Item, Page, Pagination};
use crate::netbackup::time::EpochMs;
use crate::netbackup::ApiError;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Safety stop for pagination loops whose server never says "last page".
const MAX_PAGES: usize = 100_000;

/// How a list endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `page[after]` ← `meta.pagination.next` (`/admin/jobs` at API ≥ 9.0).
    Cursor,
    /// `page[offset]`/`page[limit]` (everything else, and jobs before 9.0).
    Offset,
}

/// What a list walk fetches: the endpoint, the API version, how it pages, and the page size.
#[derive(Debug, Clone, Copy)]
pub struct List {
    pub path: &'static str,
    pub version: ApiVersion,
    pub paging: Paging,
    pub limit: u32,
}

/// One unit of work of [`Client::walk_parallel`]: a slice walked from `offset`, or the single page at `offset`.
struct Task<'q> {
    query: &'q [(&'static str, String)],
    offset: i64,
    single: bool,
}

/// How one walk runs: requests in flight at once, the collection's deadline, and the flag that abandons it.
#[derive(Clone, Copy)]
pub struct Walk<'a> {
    pub concurrency: usize,
    /// When the collection must be finished (its start plus `collectionTimeout`).
    pub deadline: Instant,
    /// The `collectionTimeout` the deadline came from, for the error message.
    pub limit: Duration,
    /// Set when the collection was abandoned: the walk stops at its next page.
    pub cancel: &'a AtomicBool,
}

impl Walk<'_> {
    /// Before a page: stop if the collection was abandoned or, when `deadline` applies, ran out of time.
    fn check(&self, path: &str, pages: usize, deadline: bool) -> Result<(), ApiError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ApiError::Timeout { path: path.to_string(), detail: "collection abandoned".into() });
        }
        if deadline && Instant::now() > self.deadline {
            return Err(ApiError::deadline(path, pages, self.limit));
        }
        Ok(())
    }
}

/// One decoded page: its items (a `Vec<Item<A>>`, erased), how many, and its pagination.
struct Decoded {
    items: Erased,
    n: usize,
    pagination: Pagination,
}

/// What a completed list walk saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct WalkStats {
    pub pages: usize,
    pub items: usize,
    /// The server's clock (`Date` header) when it answered the first page.
    pub server_time: Option<EpochMs>,
}

impl Client {
    /// Several walks at once, at most `concurrency` requests in flight, all within one collection deadline:
    /// * cursor paging: each query is a slice (e.g. a time range) walked page by page; the first slice alone, then
    ///   the others in parallel;
    /// * offset paging (one query): the first page tells the record count, the remaining pages are fetched in
    ///   parallel by offset.
    ///
    /// Pages reach `on_page` on the calling thread, one at a time, in no particular order. The first error stops
    /// the other workers at their next page and is returned.
    pub fn walk_parallel<A: DeserializeOwned + Send + 'static>(
        &self,
        list: List,
        queries: &[Vec<(&'static str, String)>],
        walk: Walk<'_>,
        on_page: &mut dyn FnMut(Vec<Item<A>>),
    ) -> Result<WalkStats, ApiError> {
        let decode: &Parse = &|r| {
            let page: Page<A> = serde_json::from_reader(r)?;
            let data = page.data.unwrap_or_default();
            let pagination = page.meta.and_then(|m| m.pagination).unwrap_or_default();
            Ok(Box::new(Decoded { n: data.len(), pagination, items: Box::new(data) }) as Erased)
        };
        let mut typed = |items: Erased| {
            if let Ok(items) = items.downcast::<Vec<Item<A>>>() {
                on_page(*items);
            }
        };
        self.walk_erased(list, queries, walk, decode, &mut typed)
    }

    /// The walk itself, the same code for every item type: `decode` turns a page's body into a [`Decoded`]
    /// whose items go to `on_page` still erased.
    fn walk_erased(
        &self,
        list: List,
        queries: &[Vec<(&'static str, String)>],
        walk: Walk<'_>,
        decode: &Parse,
        on_page: &mut dyn FnMut(Erased),
    ) -> Result<WalkStats, ApiError> {
        let List { path, version, paging, limit } = list;
        let concurrency = walk.concurrency;
        // The walk's own stop flag: set by the first failing worker, or when the collection is abandoned.
        let cancel = AtomicBool::new(false);
        let mut total = WalkStats::default();
        let mut tasks: Vec<Task<'_>> = Vec::new();
        match paging {
            Paging::Cursor => {
                // The first slice alone: a bad key or version fails after one request, not one per slice.
                let Some((first, rest)) = queries.split_first() else { return Ok(total) };
                total = self.walk_from(list, first, 0, true, &walk, &cancel, decode, on_page)?;
                tasks.extend(rest.iter().map(|q| Task { query: q, offset: 0, single: false }));
            }
            Paging::Offset => {
                for q in queries {
                    walk.check(path, total.pages, total.pages > 0)?;
                    // The first page, alone: its pagination says how many pages follow.
                    let (page, date) = self.page(path, &with_page(q, limit, None, Some(0)), version, decode)?;
                    total.pages += 1;
                    total.server_time = earliest(total.server_time, date);
                    let n = page.n as i64;
                    total.items += page.n;
                    let count = page.pagination.count;
                    on_page(page.items);
                    match count {
                        Some(count) if n > 0 => {
                            let pages = ((count - n).max(0) + i64::from(limit) - 1) / i64::from(limit);
                            let pages = pages.min(MAX_PAGES as i64);
                            tasks.extend((0..pages).map(|i| Task {
                                query: q,
                                offset: n + i * i64::from(limit),
                                single: true,
                            }));
                        }
                        Some(_) => {}
                        // No count: walk on sequentially from the second page.
                        None if n > 0 => tasks.push(Task { query: q, offset: n, single: false }),
                        None => {}
                    }
                }
            }
        }
        if tasks.is_empty() {
            return Ok(total);
        }
        let workers = concurrency.clamp(1, tasks.len());
        let queue = Mutex::new(tasks.into_iter());
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Erased, ApiError>>(workers * 2);
        let results: Mutex<Vec<Result<WalkStats, ApiError>>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (queue, cancel, results, walk) = (&queue, &cancel, &results, &walk);
                scope.spawn(move || loop {
                    let Some(Task { query, offset, single }) = queue.lock().next() else { break };
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = if single {
                        self.page_at(list, query, offset, walk, decode).map(|(stats, items)| {
                            let _ = tx.send(Ok(items));
                            stats
                        })
                    } else {
                        self.walk_from(list, query, offset, false, walk, cancel, decode, &mut |items| {
                            let _ = tx.send(Ok(items));
                        })
                    };
                    if let Err(e) = &r {
                        cancel.store(true, Ordering::Relaxed);
                        let _ = tx.send(Err(e.clone()));
                    }
                    results.lock().push(r);
                });
            }
            drop(tx);
            for msg in rx {
                match msg {
                    Ok(items) => on_page(items),
                    Err(_) => cancel.store(true, Ordering::Relaxed),
                }
            }
        });
        for r in results.into_inner() {
            let s = r?;
            total.pages += s.pages;
            total.items += s.items;
            total.server_time = earliest(total.server_time, s.server_time);
        }
        Ok(total)
    }

    /// One page at `path`, decoded by `decode`.
    fn page(
        &self,
        path: &'static str,
        query: &[(&str, String)],
        version: ApiVersion,
        decode: &Parse,
    ) -> Result<(Decoded, Option<EpochMs>), ApiError> {
        let (value, date) = self.get_erased(path.into(), query, version, decode)?;
        match value.downcast::<Decoded>() {
            Ok(page) => Ok((*page, date)),
            Err(_) => Err(ApiError::Decode { path: path.into(), detail: "internal: not a page".into() }),
        }
    }

    /// One offset page, as a task of [`walk_parallel`](Self::walk_parallel).
    fn page_at(
        &self,
        List { path, version, limit, .. }: List,
        query: &[(&str, String)],
        offset: i64,
        walk: &Walk<'_>,
        decode: &Parse,
    ) -> Result<(WalkStats, Erased), ApiError> {
        walk.check(path, 0, true)?;
        let (page, date) = self.page(path, &with_page(query, limit, None, Some(offset)), version, decode)?;
        Ok((WalkStats { pages: 1, items: page.n, server_time: date }, page.items))
    }

    /// The sequential walk, from `offset` (offset paging) or the first page (cursor paging), until the last page,
    /// the deadline, or `cancel` (another worker of the same walk failed). The deadline applies from the second
    /// page when `first` (this is the walk's first request), else from the first.
    #[allow(clippy::too_many_arguments)]
    fn walk_from(
        &self,
        List { path, version, paging, limit }: List,
        query: &[(&str, String)],
        mut offset: i64,
        first: bool,
        walk: &Walk<'_>,
        cancel: &AtomicBool,
        decode: &Parse,
        on_page: &mut dyn FnMut(Erased),
    ) -> Result<WalkStats, ApiError> {
        let mut stats = WalkStats::default();
        let mut cursor: Option<String> = None;
        loop {
            walk.check(path, stats.pages, stats.pages > 0 || !first)?;
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let q = match paging {
                Paging::Cursor => with_page(query, limit, cursor.as_deref(), None),
                Paging::Offset => with_page(query, limit, None, Some(offset)),
            };
            let (page, date) = self.page(path, &q, version, decode)?;
            if stats.pages == 0 {
                stats.server_time = date;
            }
            stats.pages += 1;
            let n = page.n;
            stats.items += n;
            let pagination = page.pagination;
            on_page(page.items);
            if n == 0 || stats.pages >= MAX_PAGES {
                break;
            }
            match paging {
                Paging::Cursor => match pagination.next {
                    Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                    Some(_) => {
                        return Err(ApiError::Decode {
                            path: path.to_string(),
                            detail: "the server returned the same page cursor twice".into(),
                        })
                    }
                    None => break,
                },
                Paging::Offset => {
                    let next = pagination.next.as_deref().and_then(|s| s.parse::<i64>().ok());
                    let reached_end = pagination.last.is_some_and(|last| offset >= last)
                        || pagination.count.is_some_and(|count| offset + n as i64 >= count)
                        || (next.is_none() && pagination.count.is_none() && (n as u32) < limit);
                    if reached_end {
                        break;
                    }
                    offset = match next {
                        Some(nx) if nx > offset => nx,
                        _ => offset + n as i64,
                    };
                }
            }
        }
        Ok(stats)
    }
}

/// `query` plus the paging parameters.
fn with_page<'a>(
    query: &[(&'a str, String)],
    limit: u32,
    after: Option<&str>,
    offset: Option<i64>,
) -> Vec<(&'a str, String)> {
    let mut q = query.to_vec();
    q.push(("page[limit]", limit.to_string()));
    if let Some(c) = after {
        q.push(("page[after]", c.to_string()));
    }
    if let Some(o) = offset {
        q.push(("page[offset]", o.to_string()));
    }
    q
}

fn earliest(a: Option<EpochMs>, b: Option<EpochMs>) -> Option<EpochMs> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}
