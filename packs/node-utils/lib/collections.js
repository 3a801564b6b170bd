'use strict';

/** Split `items` into arrays of `size` (the last one may be shorter). */
function chunk(items, size) {
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError('size must be a positive integer');
  }
  const chunks = [];
  for (let i = 0; i < items.length; i += size) {
    chunks.push(items.slice(i, i + size));
  }
  return chunks;
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Merge `override` into `base` without modifying either: objects merge key by key, anything else
 * (arrays included) is replaced.  `__proto__`, `constructor` and `prototype` keys are ignored.
 */
function deepMerge(base, override) {
  if (!isPlainObject(base) || !isPlainObject(override)) {
    return override === undefined ? base : override;
  }
  const merged = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      continue;
    }
    merged[key] = key in base ? deepMerge(base[key], value) : value;
  }
  return merged;
}

/** Group items by the string a key function returns, keeping the items' order. */
function groupBy(items, keyOf) {
  const groups = {};
  for (const item of items) {
    const key = String(keyOf(item));
    (groups[key] ||= []).push(item);
  }
  return groups;
}

module.exports = { chunk, deepMerge, groupBy };
