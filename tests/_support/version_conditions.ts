/**
 * `if version` conditions and what HTCondor 25.14's condor_config_val makes
 * of them (tests/config/ checks ours, tests/interop/config_test.ts the real one):
 * true, false, or a configuration error.
 */
export const VERSION_CONDITIONS: readonly (readonly [string, boolean | "error"])[] = [
  ["version >= 9.0", true],
  ["version >= 25.14", true],
  ["version >= 25.14.0", true],
  ["version > 25.14", false],
  ["version > 25.13.99", true],
  ["version == 25.14.0", true],
  ["version = 25.14", true],
  ["version != 25.14", false],
  ["version < 26.0", true],
  ["version <= 25.14.1", true],
  ["version >= 25.14.99", false],
  ["version >= v9.0", true],
  ["VERSION >= 9.0", true],
  ["Version>= 9.0", true],
  ["version >=9.0", true],
  ["version  >=   9.0", true],
  ["version >= 25.014", true],
  ["version >= 9.0.0.1", true],
  ["version >= 9.0abc", true],
  ["! version >= 9.0", false],
  // HTCondor's parser gives up on a part above 99: such a version is lower than any.
  ["version >= 25.100", true],
  ["version > 25.100", true],
  ["version < 25.100", false],
  ["version >= 25.14.100", true],
  ["version>=9.0", "error"],
  ["version >= 5.0", "error"],
  ["version >= 9", "error"],
  ["version", "error"],
  ["version 25.14", "error"],
  ["version >= 9.x", "error"],
  ["version >== 9.0", "error"],
  ["version =< 9.0", "error"],
  ["version !> 9.0", "error"],
  ["version >= 2147483648.0", "error"],
];
