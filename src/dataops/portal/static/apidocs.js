// The API reference page (/work/api/docs): renders /work/api/openapi.json as HTML.
// Plain ES module, no CDN; every text from the document goes in with textContent.
const SPEC_URL = "/work/api/openapi.json";
const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function refName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `array of ${refName(schema.items) || "values"}`;
  if (schema.anyOf) return schema.anyOf.map(refName).filter(Boolean).join(" | ");
  if (schema.enum) return schema.enum.join(" | ");
  return schema.type || "value";
}

function slug(text) {
  return text.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase();
}

function parametersTable(parameters) {
  const body = el("tbody");
  for (const p of parameters) {
    body.append(
      el(
        "tr",
        {},
        el("td", {}, el("code", { text: p.name })),
        el("td", { text: p.in }),
        el("td", { text: refName(p.schema) }),
        el("td", { text: p.required ? "yes" : "no" }),
      ),
    );
  }
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("caption", { text: "Parameters" }),
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "col", text: "Name" }),
          el("th", { scope: "col", text: "In" }),
          el("th", { scope: "col", text: "Type" }),
          el("th", { scope: "col", text: "Required" }),
        ),
      ),
      body,
    ),
  );
}

function responsesList(responses, components) {
  const list = el("ul", { class: "apidocs-responses" });
  for (const [status, response] of Object.entries(responses)) {
    const resolved = response.$ref
      ? components.responses[response.$ref.split("/").pop()] || {}
      : response;
    const content = resolved.content || {};
    const types = Object.entries(content).map(([type, media]) => {
      const name = refName(media.schema);
      return name ? `${type} (${name})` : type;
    });
    const text = `${status}: ${resolved.description || ""}${types.length ? ` — ${types.join(", ")}` : ""}`;
    list.append(el("li", { text }));
  }
  return list;
}

function operationSection(server, path, method, op, components) {
  const id = slug(`${method}-${path}`);
  const section = el("section", { class: "card apidocs-op", id, "aria-labelledby": `${id}-h` });
  section.append(
    el(
      "h3",
      { id: `${id}-h` },
      el("span", { class: `apidocs-method apidocs-${method}`, text: method.toUpperCase() }),
      " ",
      el("code", { class: "wrap", text: server + path }),
    ),
  );
  if (op.summary) section.append(el("p", { text: op.summary }));
  if (op.description && op.description !== op.summary) {
    section.append(el("p", { class: "hint", text: op.description }));
  }
  if (op.parameters && op.parameters.length) section.append(parametersTable(op.parameters));
  if (op.requestBody) {
    const types = Object.entries(op.requestBody.content || {}).map(
      ([type, media]) => `${type} (${refName(media.schema)})`,
    );
    section.append(el("p", {}, el("strong", { text: "Body: " }), types.join(", ")));
  }
  section.append(el("h4", { text: "Responses" }), responsesList(op.responses || {}, components));
  return section;
}

function schemaSection(name, schema) {
  const section = el("section", { class: "card", id: `schema-${slug(name)}` });
  section.append(el("h3", {}, el("code", { text: name })));
  if (schema.description) section.append(el("p", { text: schema.description }));
  const required = new Set(schema.required || []);
  const list = el("ul");
  for (const [field, spec] of Object.entries(schema.properties || {})) {
    list.append(
      el(
        "li",
        {},
        el("code", { text: field }),
        ` — ${refName(spec)}${required.has(field) ? " (required)" : ""}`,
      ),
    );
  }
  if (list.childElementCount) section.append(list);
  if (schema.enum) section.append(el("p", { text: `One of: ${schema.enum.join(", ")}` }));
  return section;
}

function render(main, doc) {
  const server = (doc.servers && doc.servers[0] && doc.servers[0].url) || "";
  const components = doc.components || {};
  main.replaceChildren(
    el("h1", { text: `${doc.info.title} — API reference` }),
    el("p", { text: doc.info.description || "" }),
    el(
      "p",
      {},
      "The machine-readable description: ",
      el("a", { href: SPEC_URL, text: SPEC_URL }),
      ` (OpenAPI ${doc.openapi}).`,
    ),
  );
  const auth = el("ul");
  for (const [name, scheme] of Object.entries(components.securitySchemes || {})) {
    auth.append(el("li", {}, el("strong", { text: name }), `: ${scheme.description || scheme.type}`));
  }
  main.append(el("h2", { text: "Authentication" }), auth);

  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, op]);
    }
  }
  const toc = el("ul", { class: "apidocs-toc" });
  for (const tag of byTag.keys()) {
    toc.append(el("li", {}, el("a", { href: `#tag-${slug(tag)}`, text: tag })));
  }
  toc.append(el("li", {}, el("a", { href: "#schemas", text: "Schemas" })));
  main.append(el("nav", { "aria-label": "Sections" }, toc));
  for (const [tag, operations] of byTag) {
    main.append(el("h2", { id: `tag-${slug(tag)}`, text: tag }));
    for (const [path, method, op] of operations) {
      main.append(operationSection(server, path, method, op, components));
    }
  }
  main.append(el("h2", { id: "schemas", text: "Schemas" }));
  for (const [name, schema] of Object.entries(components.schemas || {})) {
    main.append(schemaSection(name, schema));
  }
}

async function start() {
  const main = document.getElementById("main");
  try {
    const response = await fetch(SPEC_URL, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`the description answered ${response.status}`);
    render(main, await response.json());
  } catch (error) {
    main.replaceChildren(
      el("h1", { text: "DataOps API reference" }),
      el("p", { class: "error", role: "alert", text: `Could not load ${SPEC_URL}: ${error.message}` }),
    );
  }
}

start();
