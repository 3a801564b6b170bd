'use strict';

/**
 * Turn a title into a URL slug: lower case, accents removed, runs of other characters as one
 * hyphen, no leading or trailing hyphen, at most `maxLength` characters (cut at a hyphen when
 * possible).
 */
function slugify(title, maxLength = 64) {
  const slug = String(title)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length <= maxLength) {
    return slug;
  }
  const cut = slug.slice(0, maxLength);
  const lastHyphen = cut.lastIndexOf('-');
  return (lastHyphen > 0 ? cut.slice(0, lastHyphen) : cut).replace(/-+$/, '');
}

/**
 * Fill `{{ name }}` placeholders from `values`.  A missing value throws (a half-rendered
 * notification is worse than none); `{{{{` escapes a literal `{{`.
 */
function renderTemplate(template, values) {
  return String(template).replace(/\{\{\{\{|\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (match, path) => {
    if (match === '{{{{') {
      return '{{';
    }
    let value = values;
    for (const part of path.split('.')) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) {
        throw new Error(`missing template value: ${path}`);
      }
      value = value[part];
    }
    return String(value);
  });
}

/** Shorten `text` to at most `max` characters, ending with an ellipsis when it was cut. */
function truncate(text, max) {
  if (max < 1) {
    throw new RangeError('max must be at least 1');
  }
  const chars = Array.from(String(text));
  return chars.length <= max ? chars.join('') : chars.slice(0, max - 1).join('') + '…';
}

module.exports = { slugify, renderTemplate, truncate };
