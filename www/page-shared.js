// What every module of the page shares: the element lookup, the panels (one list, filled by
// main.js), the status line and the performance marks.
export const $ = (id) => document.getElementById(id);
export const panels = [];

export function status(text) { $('status').textContent = text; }

// A performance mark the first time something happens (time since navigation).
export function mark(name) { if (performance.getEntriesByName(name).length === 0) performance.mark(name); }
