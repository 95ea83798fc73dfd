// @ts-check
// What every module of the page shares: the element lookup, the panels (one list, filled by
// main.js), the status line and the performance marks.
/**
 * An element of the page by id. Typed loosely: the ids name inputs, selects, canvases and
 * templates alike, and index.html, not this file, says which.
 * @param {string} id
 * @returns {any}
 */
export const $ = (id) => document.getElementById(id);
/** @type {import('./panel.js').Panel[]} */
export const panels = [];

/** @param {string} text */
export function status(text) { $('status').textContent = text; }

// A performance mark the first time something happens (time since navigation).
/** @param {string} name */
export function mark(name) { if (performance.getEntriesByName(name).length === 0) performance.mark(name); }
