/**
 * The HTCondor version this project is compatible with: what its tools and
 * configuration reader behave like, and what `if version >= X` in a
 * configuration file is compared against. One constant, so docs, tests and
 * the reader cannot disagree.
 *
 * @module
 */

/** HTCondor's version as `MAJOR.MINOR.SUBMINOR`. */
export const HTCONDOR_VERSION = "25.14.0";
