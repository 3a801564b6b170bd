'use strict';

// Version gates for rollouts, built on npm's semver.

const semver = require('semver');

/** Whether `version` may roll out under `range` (pre-releases only when the range names one). */
function allowed(version, range) {
  return semver.valid(version) !== null && semver.satisfies(version, range);
}

/** The highest of `versions` that `range` allows, or null. */
function highestAllowed(versions, range) {
  return semver.maxSatisfying(versions.filter((v) => semver.valid(v) !== null), range);
}

/** `versions` sorted oldest first, invalid ones dropped. */
function ordered(versions) {
  return versions.filter((v) => semver.valid(v) !== null).sort(semver.compare);
}

module.exports = { allowed, highestAllowed, ordered };
