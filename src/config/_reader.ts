/**
 * Reads configuration text into a {@link KnobTable}, statement by statement,
 * evaluating what HTCondor evaluates while reading: `if` conditions, include
 * paths, self-references and `+=`. Everything else stays raw for lazy
 * expansion. Reading is a generator so that the same code serves text in
 * memory and files on disk: it yields an {@link IncludeRequest} and is
 * resumed with the included text.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { evaluateCondition } from "./_conditions.ts";
import { expandSelfReferences, expandText } from "./_expand.ts";
import { IfStack } from "./_if_stack.ts";
import type { KnobTable } from "./_knob_table.ts";
import { logicalLines } from "./_lines.ts";
import { isValidKnobName } from "./_macros.ts";
import { parseTemplateUses, templateBody } from "./_metaknobs.ts";
import { parseStatement, type Statement } from "./_statement.ts";

/** A request from the reader for the text of an included file. */
export interface IncludeRequest {
  /** The file to read, expanded. */
  readonly path: string;
  /** False for `include ifexist`: a missing file is skipped. */
  readonly mustExist: boolean;
  /** Where the include statement is, for messages. */
  readonly from: string;
}

/** Yields include requests; resumed with the file's text, or undefined when it is absent. */
export type ReadSteps = Generator<IncludeRequest, void, string | undefined>;

/** HTCondor's limit on nested includes and metaknobs; deeper is a loop. */
const MAX_NESTING = 20;

/** A position in the configuration, for messages. */
interface Location {
  readonly source: string;
  readonly line: number;
  /** Set inside a metaknob: which `use` the line came from. */
  readonly template?: string;
}

/** A multi-line `NAME @=TAG` value being collected. */
interface HereValue {
  readonly name: string;
  readonly tag: string;
  readonly line: number;
  readonly lines: string[];
}

/** Reads configuration sources into one knob table. */
export class ConfigReader {
  readonly #table: KnobTable;
  readonly #warnings: string[] = [];

  constructor(table: KnobTable) {
    this.#table = table;
  }

  /** Things HTCondor would warn about, in reading order. */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /**
   * Reads one source, yielding a request for each file it includes. Throws
   * ConfigError (CONFIG_SYNTAX and others) naming the source and line.
   */
  read(text: string, source: string): ReadSteps {
    return this.#read(text, source, 0, undefined);
  }

  /**
   * Reads a file or, with `template` set, a metaknob body used at that
   * location. `depth` counts the includes and metaknobs around it.
   */
  *#read(text: string, source: string, depth: number, template: Location | undefined): ReadSteps {
    const ifs = new IfStack();
    let here: HereValue | undefined;

    for (const { text: lineText, line } of logicalLines(text)) {
      // Lines of a metaknob are reported at its `use` line: their own
      // numbers mean nothing to whoever wrote the configuration.
      const at = template ?? { source, line };
      if (here) {
        if (lineText === `@${here.tag}`) {
          this.#assign(here.name, here.lines.join("\n"), at);
          here = undefined;
        } else {
          here.lines.push(lineText);
        }
        continue;
      }

      const statement = parseStatement(lineText, ifs.inside);
      if (this.#conditional(statement, ifs, at) || !ifs.enabled) continue;

      switch (statement.kind) {
        case "section":
          break;
        case "invalid":
          throw syntaxError(at, statement.reason);
        case "assign":
          if (statement.legacyColon) {
            this.#warn(
              at,
              `"${statement.name} : value" is obsolete, use "${statement.name} = value"`,
            );
          }
          this.#assign(statement.name, statement.value, at);
          break;
        case "append": {
          const name = this.#knobName(statement.name, at);
          const previous = this.#table.previous(name);
          const value = previous
            ? previous + statement.separator + statement.value
            : statement.value;
          this.#assign(name, value, at);
          break;
        }
        case "here":
          here = { name: this.#knobName(statement.name, at), tag: statement.tag, line, lines: [] };
          break;
        case "use":
          yield* this.#use(statement.category, statement.templates, at, depth);
          break;
        case "include":
          yield* this.#include(statement, at, depth);
          break;
        case "warning":
          this.#warn(at, located(at, () => expandText(this.#table, statement.message)));
          break;
        case "error": {
          const message = located(at, () => expandText(this.#table, statement.message));
          throw new ConfigError(
            "CONFIG_DIRECTIVE",
            `Cannot use configuration: ${describe(at)} says: ${message}`,
          );
        }
      }
    }

    if (here) {
      throw syntaxError(
        template ?? { source, line: here.line },
        `missing "@${here.tag}" before the end`,
      );
    }
    const open = ifs.openLine;
    if (open !== undefined) {
      throw syntaxError(template ?? { source, line: open }, "if without endif");
    }
  }

  /** Handles if/elif/else/endif; returns false for any other statement. */
  #conditional(statement: Statement, ifs: IfStack, at: Location): boolean {
    let problem: string | undefined;
    switch (statement.kind) {
      case "if":
        ifs.beginIf(at.line, () => this.#condition(statement.condition, at));
        return true;
      case "elif":
        problem = ifs.beginElif(() => this.#condition(statement.condition, at));
        break;
      case "else":
        problem = ifs.beginElse();
        break;
      case "endif":
        problem = ifs.end();
        break;
      default:
        return false;
    }
    if (problem) throw syntaxError(at, problem);
    return true;
  }

  #condition(condition: string, at: Location): boolean {
    const result = located(at, () =>
      evaluateCondition(condition, {
        expand: (text) => expandText(this.#table, text),
        isDefined: (name) => (this.#table.raw(name) ?? "") !== "",
      }));
    if (result.ok) return result.value;
    const reason = `"${condition}" is not a valid if condition because ${result.reason}`;
    if (!result.unsupported) throw syntaxError(at, reason);
    throw new ConfigError(
      "CONFIG_UNSUPPORTED",
      `Cannot read configuration: ${describe(at)}: ${reason}`,
    );
  }

  /** Records `name = value`, resolving references to `name` itself now. */
  #assign(rawName: string, value: string, at: Location): void {
    const name = this.#knobName(rawName, at);
    this.#table.assign(name, expandSelfReferences(value, name, this.#table.previous(name)));
  }

  /** The knob name of an assignment; HTCondor expands `$(...)` in names too. */
  #knobName(rawName: string, at: Location): string {
    const name = rawName.includes("$")
      ? located(at, () => expandText(this.#table, rawName))
      : rawName;
    if (!isValidKnobName(name)) throw syntaxError(at, `"${name}" is not a valid knob name`);
    return name;
  }

  *#use(category: string, templates: string, at: Location, depth: number): ReadSteps {
    for (const use of parseTemplateUses(templates)) {
      const body = templateBody(category, use);
      const label = `use ${category.trim()}:${use.name}`;
      if (body === undefined) {
        this.#warn(at, `ignored "${label}": this reader does not carry that template`);
        continue;
      }
      nestingCheck(depth, at, label);
      yield* this.#read(body, label, depth + 1, { ...at, template: label });
    }
  }

  *#include(
    statement: Extract<Statement, { kind: "include" }>,
    at: Location,
    depth: number,
  ): ReadSteps {
    const path = located(at, () => expandText(this.#table, statement.target)).trim();
    if (statement.command || path.endsWith("|")) {
      throw new ConfigError(
        "CONFIG_UNSUPPORTED",
        `Cannot read configuration: ${
          describe(at)
        }: including the output of a command is not supported`,
      );
    }
    nestingCheck(depth, at, `include "${path}"`);
    const text = yield { path, mustExist: !statement.ifExists, from: describe(at) };
    if (text !== undefined) yield* this.#read(text, path, depth + 1, undefined);
  }

  #warn(at: Location, message: string): void {
    this.#warnings.push(`${describe(at)}: ${message}`);
  }
}

/** `"/etc/condor/condor_config" line 12`, plus the metaknob if any. */
function describe(at: Location): string {
  const where = `"${at.source}" line ${at.line}`;
  return at.template === undefined ? where : `${where} (${at.template})`;
}

function syntaxError(at: Location, reason: string): ConfigError {
  return new ConfigError("CONFIG_SYNTAX", `Cannot parse configuration: ${describe(at)}: ${reason}`);
}

function nestingCheck(depth: number, at: Location, what: string): void {
  if (depth + 1 >= MAX_NESTING) {
    throw new ConfigError(
      "CONFIG_LOOP",
      `Cannot read configuration: ${describe(at)}: ${what} nests more than ${MAX_NESTING} deep`,
    );
  }
}

/** Runs `evaluate`, adding the location to any ConfigError it throws. */
function located<T>(at: Location, evaluate: () => T): T {
  try {
    return evaluate();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(error.code, `${error.message} (at ${describe(at)})`, { cause: error });
  }
}
