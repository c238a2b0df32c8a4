/**
 * The few HTCondor metaknobs (`use CATEGORY : NAME`) that decide knobs this
 * project reads: the SECURITY templates set ALLOW_ADMINISTRATOR and, for
 * get_htcondor installs, TRUST_DOMAIN; the ROLE templates set CONDOR_HOST and
 * COLLECTOR_HOST for personal pools. Their contents follow HTCondor's
 * `param_info.in` (current series, where `security:recommended` means the
 * 24.0 policy). Any other template is reported as ignored by the reader.
 *
 * @module
 */

/** Template bodies keyed by `CATEGORY:NAME` in upper case. `$(1)` etc. are arguments. */
const TEMPLATES: Readonly<Record<string, string>> = {
  "SECURITY:HOST_BASED": `
    ALLOW_ADMINISTRATOR = $(CONDOR_HOST)
    ALLOW_READ = *
    ALLOW_WRITE = $(FULL_HOSTNAME) $(IPV4_ADDRESS) $(IPV6_ADDRESS)
    ALLOW_DAEMON = $(FULL_HOSTNAME) $(IPV4_ADDRESS) $(IPV6_ADDRESS)
    ALLOW_NEGOTIATOR = $(CONDOR_HOST)
    ALLOW_NEGOTIATOR_SCHEDD = $(ALLOW_NEGOTIATOR) $(FLOCK_NEGOTIATOR_HOSTS)
    ALLOW_WRITE_COLLECTOR = $(ALLOW_WRITE) $(FLOCK_FROM)
    ALLOW_WRITE_STARTD = $(ALLOW_WRITE) $(FLOCK_FROM)
    ALLOW_READ_COLLECTOR = $(ALLOW_READ) $(FLOCK_FROM)
    ALLOW_READ_STARTD = $(ALLOW_READ) $(FLOCK_FROM)
    LEGACY_ALLOW_SEMANTICS = TRUE
  `,
  "SECURITY:WITH_AUTHENTICATION": `
    SEC_DEFAULT_AUTHENTICATION = REQUIRED
    SEC_DEFAULT_INTEGRITY = REQUIRED
  `,
  "SECURITY:STRONG": `
    SEC_DEFAULT_ENCRYPTION = REQUIRED
    SEC_DEFAULT_INTEGRITY = REQUIRED
    SEC_DEFAULT_AUTHENTICATION = REQUIRED
  `,
  "SECURITY:FIPS": `
    FIPS = True
    use SECURITY : STRONG
    SEC_DEFAULT_CRYPTO_METHODS = AES,3DES
  `,
  "SECURITY:RECOMMENDED_V9_0": `
    SECURITY_MODEL = 9.0
    use SECURITY : STRONG
    SEC_READ_AUTHENTICATION = OPTIONAL
    SEC_READ_ENCRYPTION = OPTIONAL
    SEC_READ_INTEGRITY = OPTIONAL
    ALLOW_ADMINISTRATOR = $(1:condor)@* condor_pool@* $(2:root@*) $(3+)
    ALLOW_DAEMON = $(1:condor)@* condor_pool@*
    ALLOW_NEGOTIATOR = $(1:condor)@* condor_pool@*
    ALLOW_WRITE = *
    ALLOW_READ = *
  `,
  "SECURITY:RECOMMENDED_V24_0": `
    SECURITY_MODEL = 24.0
    use SECURITY : STRONG
    SEC_READ_AUTHENTICATION = OPTIONAL
    SEC_CLIENT_AUTHENTICATION = OPTIONAL
    ALLOW_ADMINISTRATOR = $(1:condor)@* condor@password $(2:root@*) $(3+)
    ALLOW_DAEMON = $(1:condor)@* condor@password
    ALLOW_NEGOTIATOR = $(1:condor)@* condor@password
    ALLOW_WRITE = *
    ALLOW_READ = *
  `,
  "SECURITY:RECOMMENDED": `
    use SECURITY : RECOMMENDED_V24_0($(1+))
  `,
  "SECURITY:GET_HTCONDOR_IDTOKENS": `
    use SECURITY : RECOMMENDED
    SEC_READ_AUTHENTICATION_METHODS = $(SEC_DEFAULT_AUTHENTICATION_METHODS),ANONYMOUS
    SEC_CLIENT_AUTHENTICATION_METHODS = $(SEC_DEFAULT_AUTHENTICATION_METHODS),ANONYMOUS
    TRUST_DOMAIN = $(CONDOR_HOST)
  `,
  "ROLE:PERSONAL": `
    CONDOR_HOST = 127.0.0.1
    COLLECTOR_HOST = $(CONDOR_HOST):0
    DAEMON_LIST = MASTER COLLECTOR NEGOTIATOR STARTD SCHEDD
    RUNBENCHMARKS = 0
  `,
  "ROLE:CENTRALMANAGER": `
    DAEMON_LIST = $(DAEMON_LIST) COLLECTOR NEGOTIATOR
  `,
  "ROLE:SUBMIT": `
    DAEMON_LIST = $(DAEMON_LIST) SCHEDD
  `,
  "ROLE:EXECUTE": `
    DAEMON_LIST = $(DAEMON_LIST) STARTD
  `,
  "ROLE:GET_HTCONDOR_CENTRAL_MANAGER": `
    use SECURITY : GET_HTCONDOR_IDTOKENS
    use ROLE : CENTRALMANAGER
  `,
  "ROLE:GET_HTCONDOR_SUBMIT": `
    use SECURITY : GET_HTCONDOR_IDTOKENS
    use ROLE : SUBMIT
  `,
  "ROLE:GET_HTCONDOR_EXECUTE": `
    use SECURITY : GET_HTCONDOR_IDTOKENS
    use ROLE : EXECUTE
  `,
};

/** One item of a `use` line: a template name and its argument text. */
export interface TemplateUse {
  readonly name: string;
  /** Text between the parentheses, or "" without arguments. */
  readonly args: string;
}

/** Splits the right side of a `use` line (`A, B(x, y) C`) into template uses. */
export function parseTemplateUses(text: string): TemplateUse[] {
  const uses: TemplateUse[] = [];
  let index = 0;
  while (index < text.length) {
    while (index < text.length && /[\s,]/.test(text[index])) index++;
    const start = index;
    while (index < text.length && !/[\s,(]/.test(text[index])) index++;
    if (index === start) break;
    const name = text.slice(start, index);
    while (index < text.length && /\s/.test(text[index])) index++;
    let args = "";
    if (text[index] === "(") {
      const close = closingParenthesis(text, index);
      args = text.slice(index + 1, close);
      index = close + 1;
    }
    uses.push({ name, args });
  }
  return uses;
}

/**
 * The body of template `category:name` with its arguments substituted, or
 * undefined when this reader does not carry that template.
 */
export function templateBody(category: string, use: TemplateUse): string | undefined {
  const body = TEMPLATES[`${category.trim()}:${use.name}`.toUpperCase()];
  return body === undefined ? undefined : substituteArguments(body, use.args);
}

/**
 * Replaces `$(N)`, `$(N:default)`, `$(N+)` (argument N and all after it) and
 * `$(N?)` (1 if argument N is given, else 0) with the arguments.
 */
function substituteArguments(body: string, argText: string): string {
  const args = argText.split(",").map((arg) => arg.trim()).filter((arg) => arg !== "");
  return body.replace(
    /\$\((\d+)([+?]?)(?::([^)]*))?\)/g,
    (_match, index: string, suffix: string, fallback: string | undefined) => {
      const first = Number(index) - 1;
      const value = suffix === "+" ? args.slice(first).join(",") : args[first] ?? "";
      if (suffix === "?") return value === "" ? "0" : "1";
      return value === "" && fallback !== undefined ? fallback : value;
    },
  );
}

/** Index of the `)` closing the `(` at `open`, or the end of the text. */
function closingParenthesis(text: string, open: number): number {
  let depth = 0;
  for (let index = open; index < text.length; index++) {
    if (text[index] === "(") depth++;
    else if (text[index] === ")" && --depth === 0) return index;
  }
  return text.length;
}
