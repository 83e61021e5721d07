/**
 * The fake org's modules and fields: one table drives both the field metadata
 * (`GET /crm/{version}/settings/fields`) and the CSV values of every export, so the two always agree.
 *
 * CSV value formats. Zoho documents only that datetimes are ISO 8601 and that lookups hold the record
 * id; the rest is the fake's choice, made explicit here:
 *   boolean              `true` / `false`
 *   multiselectpicklist  the actual values joined with `;` (`EMEA;APAC`), no spaces
 *   date                 `YYYY-MM-DD`
 *   datetime             ISO 8601 with the org's offset, no milliseconds: `2021-07-25T02:13:17-07:00`
 *   lookup, ownerlookup  the 19-digit id of the record / user (dot notation `Account_Name.Account_Name`
 *                        gives the looked-up record's field instead)
 *   integer, bigint      plain digits; bigint values exceed 2^53
 *   currency             plain decimal text with exactly 2 decimals (`1234.50`), no symbol, no grouping
 *   decimal              plain decimal text with exactly 3 decimals (`12.345`)
 *   double, formula      plain decimal text, shortest form (`1234.5`); formulas returning double: 2 decimals
 *   percent              a plain number without `%` (`40`)
 *   autonumber           prefix + number (`DL-1001`)
 *   empty value          an empty field (never `null`, never `""` in quotes)
 * Text values exercise RFC 4180: commas, quotes, `\n` and `\r\n` inside quoted values, non-ASCII,
 * emoji, leading/trailing spaces.
 *
 * THE ONE FIELD THAT DOES NOT MATCH ITS TYPE: `Accounts.Employees` is declared `integer`, but about one
 * row in nine holds a range such as `50-100` or `1000-5000` (as imported data often does), so converters
 * can be tested on a value that does not parse.
 */
import {
  BASE_TIME,
  CITY_E,
  COMPANIES,
  COMPANY_E,
  COUNTRY_E,
  csvEscape,
  DESCRIPTION_E,
  esc,
  FIRST,
  FIRST_E,
  FIRST_SLUG,
  FULL_E,
  hashString,
  isoDate,
  LAST,
  LAST_E,
  LAST_SLUG,
  mix32,
  NEXT_STEP_E,
  orgDateTime,
  RowCtx,
  STATE_E,
  STREET_E,
  TITLE_E,
} from './vocab.js';

export type DataType =
  | 'bigint'
  | 'text'
  | 'textarea'
  | 'email'
  | 'phone'
  | 'website'
  | 'picklist'
  | 'multiselectpicklist'
  | 'integer'
  | 'double'
  | 'currency'
  | 'percent'
  | 'decimal'
  | 'boolean'
  | 'date'
  | 'datetime'
  | 'lookup'
  | 'ownerlookup'
  | 'autonumber'
  | 'formula'
  | 'profileimage'
  | 'multiselectlookup';

export type JsonType = 'string' | 'integer' | 'double' | 'boolean' | 'jsonobject' | 'jsonarray';

/** data_type → json_type, as in the samples of Zoho's Fields Metadata API. */
export const JSON_TYPE: Record<DataType, JsonType> = {
  bigint: 'string',
  text: 'string',
  textarea: 'string',
  email: 'string',
  phone: 'string',
  website: 'string',
  picklist: 'string',
  multiselectpicklist: 'jsonarray',
  integer: 'integer',
  double: 'double',
  currency: 'double',
  percent: 'double',
  decimal: 'double',
  boolean: 'boolean',
  date: 'string',
  datetime: 'string',
  lookup: 'jsonobject',
  ownerlookup: 'jsonobject',
  autonumber: 'string',
  formula: 'double',
  profileimage: 'string',
  multiselectlookup: 'jsonarray',
};

/** A CSV value generator: returns the value already CSV-escaped. */
export type Gen = (c: RowCtx) => string;

export interface FieldDef {
  apiName: string;
  dataType: DataType;
  label: string;
  length: number;
  decimalPlace: number | null;
  mandatory?: boolean;
  readOnly?: boolean;
  custom?: boolean;
  /** Actual values of a picklist / multi-select picklist (the CSV holds these). */
  picklist?: string[];
  lookupModule?: string;
  formulaReturn?: 'double' | 'currency' | 'integer';
  textareaType?: 'small' | 'large' | 'rich_text';
  autoNumber?: { prefix: string; suffix: string; start: number };
  /** A lookup is empty in one row of this many. */
  lookupEmptyEvery?: number;
  /** false: in the metadata, but Zoho's bulk read does not export it (profile images). */
  exported?: boolean;
  /** A multi-select lookup: the linking module holding its links (one record per link). */
  linking?: { module: string; lookupField: string; connectedField: string; connectedModule: string };
  gen: Gen;
}

// ---------------------------------------------------------------- users and module ids

export interface FakeUser {
  id: string;
  first: string;
  last: string;
  email: string;
}

/** The org's users: record owners, creators and deleters. The first is the default client's user. */
export const USERS: FakeUser[] = [
  { id: '3652397000000186017', first: 'Patricia', last: 'Boyle', email: 'patricia.boyle@zylker.example' },
  { id: '3652397000000411001', first: 'Amelia', last: 'Burrows', email: 'amelia.burrows@zylker.example' },
  { id: '3652397000000225013', first: 'Ravi', last: 'Kumar', email: 'ravi.kumar@zylker.example' },
];
const USER_IDS = USERS.map((u) => u.id);

export const SUPPORTED_MODULES = [
  'Leads',
  'Contacts',
  'Accounts',
  'Deals',
  'Tasks',
  'Events',
  'Calls',
  'Products',
  'Quotes',
  'Sales_Orders',
  'Purchase_Orders',
  'Invoices',
  'Vendors',
  'Price_Books',
  'Cases',
  'Solutions',
  'Campaigns',
  // Line items: subform modules (generated_type "subform"), exported by their own API names.
  'Quoted_Items',
  'Ordered_Items',
  'Invoiced_Items',
  'Purchase_Items',
];

/**
 * The line-item (subform) modules and their parent modules (Zoho's Modules API: generated_type
 * "subform", parent_module). Each row's `Parent_Id` holds the parent record's id (lookup convention).
 */
export const SUBFORM_PARENTS: Readonly<Record<string, string>> = {
  Quoted_Items: 'Quotes',
  Ordered_Items: 'Sales_Orders',
  Invoiced_Items: 'Invoices',
  Purchase_Items: 'Purchase_Orders',
};

/**
 * The linking modules (Zoho's Modules API: generated_type "linking", made for a multi-select lookup)
 * with their two lookup fields and the modules they point to; the first module holds the multi-select
 * lookup field (MULTI_LOOKUP_FIELD). Each has a record store of its own. LeadsXProducts is the one Bulk
 * Read refuses when tried (modules.ts BULK_REFUSED_WHEN_TRIED): Estuary excludes linking modules, so
 * the fake keeps one that fails its probe.
 */
export const LINKING_MODULES: Readonly<Record<string, readonly [[string, string], [string, string]]>> = {
  Contacts_X_Accounts: [
    ['Contact', 'Contacts'],
    ['Account', 'Accounts'],
  ],
  LeadsXProducts: [
    ['Lead', 'Leads'],
    ['Product', 'Products'],
  ],
};

/** The multi-select lookup field of each linking module's first module. */
export const MULTI_LOOKUP_FIELD: Readonly<Record<string, string>> = {
  Contacts_X_Accounts: 'Linked_Accounts',
  LeadsXProducts: 'Products_Of_Interest',
};

/** Line items per parent in a reset store: item n belongs to parent record floor(n / 3). */
export const ITEMS_PER_PARENT = 3;

/**
 * Field-tracker modules (generated_type "field_tracker") with a record store, and the module whose
 * changes they track. A reset store holds ITEMS_PER_PARENT history rows per parent record (row n
 * belongs to parent floor(n / 3), like line items): DealHistory is the Deals stage history.
 */
export const FIELD_TRACKER_PARENTS: Readonly<Record<string, string>> = { DealHistory: 'Deals' };

/** The parent module of a store whose rows belong to another module's records (line items, history). */
export function rowParentModule(module: string): string | undefined {
  return SUBFORM_PARENTS[module] ?? FIELD_TRACKER_PARENTS[module];
}

/** Modules Zoho's bulk read refuses (MODULE_NOT_SUPPORTED); they still have field metadata. */
export const BULK_EXCLUDED_MODULES = ['Notes', 'Attachments', 'Emails'];

export function isSupportedModule(name: string): boolean {
  return (
    SUPPORTED_MODULES.includes(name) ||
    LINKING_MODULES[name] !== undefined ||
    FIELD_TRACKER_PARENTS[name] !== undefined ||
    /^[A-Za-z][A-Za-z0-9_]*__[cs]$/.test(name)
  );
}

/** Module API id (as echoed in job details). */
export function moduleApiId(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 100000;
  return `36523970000000${String(h).padStart(5, '0')}`;
}

/** Three digits that place a module's record ids: 3652397 + code + 9 digits (19 digits in all). */
function moduleCode(module: string): string {
  const i = SUPPORTED_MODULES.indexOf(module);
  if (i >= 0) return String(101 + i);
  return String(500 + (hashString(module) % 500));
}

const ID_PREFIX = new Map<string, string>();
function idPrefix(module: string): string {
  let p = ID_PREFIX.get(module);
  if (!p) {
    p = `3652397${moduleCode(module)}`;
    ID_PREFIX.set(module, p);
  }
  return p;
}

/** Id of record `index` (0-based) of a module's store: a 19-digit string above 2^53. */
export function recordId(module: string, index: number): string {
  return idPrefix(module) + String(index + 1).padStart(9, '0');
}

/** The index of a record id of `module`, or undefined if the id is not of that module. */
export function recordIndex(module: string, id: string): number | undefined {
  const p = idPrefix(module);
  if (!/^\d{19}$/.test(id) || !id.startsWith(p)) return undefined;
  const n = Number(id.slice(p.length)) - 1;
  return n >= 0 ? n : undefined;
}

/** Index space of a module's ids as BigInt, for criteria on `id`. */
export function recordIdBase(module: string): bigint {
  return BigInt(`${idPrefix(module)}000000000`);
}

export function fieldId(module: string, apiName: string): string {
  return `3652397000000${String(hashString(`${module}.${apiName}`) % 1000000).padStart(6, '0')}`;
}

/** Salt of a module's store records (their values do not depend on any job). */
export function moduleSalt(module: string): number {
  return hashString(`store:${module}`);
}

// ---------------------------------------------------------------- generator helpers

const pick =
  (values: readonly string[]): Gen =>
  (c) =>
    values[c.rng() % values.length]!;

const sometimesEmpty =
  (every: number, g: Gen): Gen =>
  (c) =>
    c.rng() % every === 0 ? '' : g(c);

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** Plain decimal text with exactly `dp` decimals. */
const decimalText = (units: number, dp: number): string => {
  const f = 10 ** dp;
  return `${Math.floor(units / f)}.${pad(units % f, dp)}`;
};

/**
 * A formula field's value (`dp` decimals): `base` for a version never recomputed (so a fresh version
 * is unchanged), else a value drawn from the record's seed and the recomputation count (records.ts
 * `recompute`: new values without a new version or Modified_Time).
 */
const formulaGen =
  (base: (c: RowCtx) => number, range: number, dp: number): Gen =>
  (c) => {
    const units = base(c);
    return decimalText(
      c.formulaGen === 0 ? units : mix32(c.seed ^ Math.imul(c.formulaGen, 0x9e3779b1)) % range,
      dp,
    );
  };

/** Index of the looked-up record (0..999, so it exists in a default-sized store), or -1 for empty. */
function lookupIndex(c: RowCtx, emptyEvery: number): number {
  const r = c.rng();
  if (r % emptyEvery === 0) return -1;
  return (r >>> 8) % 1000;
}

function lookupField(apiName: string, label: string, target: string, emptyEvery = 8): FieldDef {
  const gen: Gen = (c) => {
    const k = lookupIndex(c, emptyEvery);
    return k < 0 ? '' : recordId(target, k);
  };
  return f(apiName, 'lookup', label, gen, { lookupModule: target, lookupEmptyEvery: emptyEvery });
}

const ownerIndex = (c: RowCtx): number => c.rng() % USER_IDS.length;
const ownerGen: Gen = (c) => USER_IDS[ownerIndex(c)]!;

function multiGen(values: readonly string[]): Gen {
  return (c) => {
    const r = c.rng();
    const parts: string[] = [];
    for (let i = 0; i < values.length; i++) if ((r >>> (i + 3)) & 1) parts.push(values[i]!);
    return r % 5 === 0 ? '' : csvEscape(parts.join(';'));
  };
}

const picklistGen = (values: readonly string[], emptyEvery = 7): Gen => {
  const e = esc(values);
  return (c) => {
    const r = c.rng();
    return r % emptyEvery === 0 ? '' : e[(r >>> 4) % e.length]!;
  };
};

const emailGen: Gen = (c) =>
  c.rng() % 13 === 0 ? '' : `${FIRST_SLUG[c.first]}.${LAST_SLUG[c.last]}${c.n}@example.com`;

// ---------------------------------------------------------------- field builders

type Extra = Partial<Omit<FieldDef, 'apiName' | 'dataType' | 'label' | 'gen'>>;

const LENGTH: Record<DataType, number> = {
  bigint: 18,
  text: 255,
  textarea: 32000,
  email: 100,
  phone: 30,
  website: 255,
  picklist: 120,
  multiselectpicklist: 2000,
  integer: 9,
  double: 16,
  currency: 16,
  percent: 5,
  decimal: 16,
  boolean: 5,
  date: 20,
  datetime: 120,
  lookup: 18,
  ownerlookup: 120,
  autonumber: 50,
  formula: 16,
  profileimage: 255,
  multiselectlookup: 2000,
};

function f(apiName: string, dataType: DataType, label: string, gen: Gen, extra: Extra = {}): FieldDef {
  return {
    apiName,
    dataType,
    label,
    length: LENGTH[dataType],
    decimalPlace: null,
    custom: apiName.endsWith('__c'),
    gen,
    ...extra,
  };
}

const idField = (): FieldDef => f('id', 'bigint', 'Record Id', (c) => c.id, { readOnly: true });
const ownerField = (module: string): FieldDef =>
  f('Owner', 'ownerlookup', `${module.replace(/s$/, '')} Owner`, ownerGen);
const systemFields = (): FieldDef[] => [
  f('Created_By', 'ownerlookup', 'Created By', ownerGen, { readOnly: true }),
  f('Modified_By', 'ownerlookup', 'Modified By', ownerGen, { readOnly: true }),
  f('Created_Time', 'datetime', 'Created Time', (c) => orgDateTime(c.createdMs), { readOnly: true }),
  f('Modified_Time', 'datetime', 'Modified Time', (c) => orgDateTime(c.modifiedMs), { readOnly: true }),
];
const descriptionField = (): FieldDef =>
  f('Description', 'textarea', 'Description', pick(DESCRIPTION_E), { textareaType: 'large' });
const recordImage = (): FieldDef =>
  f('Record_Image', 'profileimage', 'Record Image', () => '', { exported: false });
const currencyField = (apiName: string, label: string, max: number, extra: Extra = {}): FieldDef =>
  f(
    apiName,
    'currency',
    label,
    sometimesEmpty(5, (c) => decimalText(c.rng() % max, 2)),
    {
      decimalPlace: 2,
      ...extra,
    },
  );

const LEAD_SOURCES = ['Web Download', 'Cold Call', 'Advertisement', 'Partner', 'Trade Show', 'Chat'];
const INDUSTRIES = [
  'ASP (Application Service Provider)',
  'Data/Telecom OEM',
  'Government/Military',
  'Large Enterprise',
  'Management/ISV',
  'Non-management ISV',
  'Small/Medium Enterprise',
];
const SALUTATIONS = ['Mr.', 'Mrs.', 'Ms.', 'Dr.', 'Prof.'];
const RATINGS = ['Acquired', 'Active', 'Market Failed', 'Project Cancelled', 'Shut Down'];
const EMPLOYEE_RANGES = ['50-100', '10-50', '1000-5000', '100-250'];

function leadsFields(): FieldDef[] {
  return [
    idField(),
    ownerField('Leads'),
    f('Salutation', 'picklist', 'Salutation', picklistGen(SALUTATIONS, 3), { picklist: SALUTATIONS }),
    f('First_Name', 'text', 'First Name', (c) => FIRST_E[c.first]!, { length: 40 }),
    f('Last_Name', 'text', 'Last Name', (c) => LAST_E[c.last]!, { length: 80, mandatory: true }),
    f('Full_Name', 'text', 'Full Name', (c) => FULL_E[c.first * 16 + c.last]!, { readOnly: true }),
    f('Company', 'text', 'Company', pick(COMPANY_E), { length: 200 }),
    f('Designation', 'text', 'Title', pick(TITLE_E), { length: 100 }),
    f('Email', 'email', 'Email', emailGen),
    f('Secondary_Email', 'email', 'Secondary Email', (c) =>
      c.rng() % 3 === 0 ? `${FIRST_SLUG[c.first]}${c.n}@mail.example.org` : '',
    ),
    f('Phone', 'phone', 'Phone', (c) => `+1 555 ${pad(c.rng() % 10000000, 7)}`),
    f('Mobile', 'phone', 'Mobile', (c) =>
      c.rng() % 2 === 0 ? `+44 7700 ${100000 + (c.rng() % 900000)}` : '',
    ),
    f('Website', 'website', 'Website', (c) =>
      c.rng() % 4 === 0 ? '' : `https://www.${LAST_SLUG[c.last]}${c.n % 97}.example.com/`,
    ),
    f('Lead_Source', 'picklist', 'Lead Source', picklistGen(LEAD_SOURCES), { picklist: LEAD_SOURCES }),
    f(
      'Lead_Status',
      'picklist',
      'Lead Status',
      picklistGen(['Not Contacted', 'Attempted to Contact', 'Contacted', 'Junk Lead', 'Qualified'], 11),
      { picklist: ['Not Contacted', 'Attempted to Contact', 'Contacted', 'Junk Lead', 'Qualified'] },
    ),
    f('Industry', 'picklist', 'Industry', picklistGen(INDUSTRIES), { picklist: INDUSTRIES }),
    currencyField('Annual_Revenue', 'Annual Revenue', 100000000),
    f(
      'No_of_Employees',
      'integer',
      'No. of Employees',
      sometimesEmpty(6, (c) => String(c.rng() % 50000)),
    ),
    f('Rating', 'picklist', 'Rating', picklistGen(RATINGS, 4), { picklist: RATINGS }),
    f('Email_Opt_Out', 'boolean', 'Email Opt Out', (c) => (c.rng() % 6 === 0 ? 'true' : 'false')),
    f('Interests__c', 'multiselectpicklist', 'Interests', multiGen(['CRM', 'Analytics', 'Mail', 'Desk']), {
      picklist: ['CRM', 'Analytics', 'Mail', 'Desk'],
    }),
    f(
      'Score__c',
      'double',
      'Score',
      sometimesEmpty(4, (c) => String((c.rng() % 100000) / 100)),
    ),
    f('Street', 'text', 'Street', pick(STREET_E)),
    f('City', 'text', 'City', pick(CITY_E), { length: 100 }),
    f('State', 'text', 'State', pick(STATE_E), { length: 100 }),
    f('Zip_Code', 'text', 'Zip Code', (c) => pad(c.rng() % 100000, 5), { length: 30 }),
    f('Country', 'text', 'Country', pick(COUNTRY_E), { length: 100 }),
    descriptionField(),
    f(
      'Last_Activity_Time',
      'datetime',
      'Last Activity Time',
      (c) => (c.rng() % 3 === 0 ? '' : orgDateTime(c.modifiedMs)),
      { readOnly: true },
    ),
    ...systemFields(),
    recordImage(),
  ];
}

/**
 * Contacts stay close to the fake's historical column set (about 250 bytes a row): it is the default
 * module of seeded jobs, and tests and benchmarks size their files with it.
 */
function contactsFields(): FieldDef[] {
  return [
    idField(),
    f('First_Name', 'text', 'First Name', (c) => FIRST_E[c.first]!, { length: 40 }),
    f('Last_Name', 'text', 'Last Name', (c) => LAST_E[c.last]!, { length: 80, mandatory: true }),
    f('Email', 'email', 'Email', emailGen),
    f('Phone', 'phone', 'Phone', (c) => `+1 555 ${pad(c.rng() % 10000000, 7)}`),
    f('Mobile', 'phone', 'Mobile', (c) =>
      c.rng() % 2 === 0 ? `+44 7700 ${100000 + (c.rng() % 900000)}` : '',
    ),
    lookupField('Account_Name', 'Account Name', 'Accounts'),
    f(
      'Date_of_Birth',
      'date',
      'Date of Birth',
      sometimesEmpty(3, (c) => isoDate(Date.UTC(1950, 0, 1) + (c.rng() % 18000) * 86400000)),
    ),
    f('Lead_Source', 'picklist', 'Lead Source', picklistGen(LEAD_SOURCES), { picklist: LEAD_SOURCES }),
    f('Mailing_City', 'text', 'Mailing City', pick(CITY_E), { length: 100 }),
    f('Mailing_Country', 'text', 'Mailing Country', pick(COUNTRY_E), { length: 100 }),
    f('Email_Opt_Out', 'boolean', 'Email Opt Out', (c) => (c.rng() % 6 === 0 ? 'true' : 'false')),
    ownerField('Contacts'),
    f('Created_Time', 'datetime', 'Created Time', (c) => orgDateTime(c.createdMs), { readOnly: true }),
    f('Modified_Time', 'datetime', 'Modified Time', (c) => orgDateTime(c.modifiedMs), { readOnly: true }),
    descriptionField(),
    recordImage(),
  ];
}

const ACCOUNT_NAMES = COMPANIES.filter((x) => x !== '');
const REGIONS = ['EMEA', 'APAC', 'North America', 'LATAM'];

function accountsFields(): FieldDef[] {
  return [
    idField(),
    ownerField('Accounts'),
    f('Account_Name', 'text', 'Account Name', pick(esc(ACCOUNT_NAMES)), { length: 200, mandatory: true }),
    f('Account_Number', 'text', 'Account Number', (c) => `A-${pad(c.n + 1, 6)}`, { length: 40 }),
    lookupField('Parent_Account', 'Parent Account', 'Accounts', 4),
    f('Website', 'website', 'Website', (c) =>
      c.rng() % 4 === 0 ? '' : `https://www.${LAST_SLUG[c.last]}${c.n % 97}.example.com/`,
    ),
    f('Phone', 'phone', 'Phone', (c) => `+1 555 ${pad(c.rng() % 10000000, 7)}`),
    f(
      'Account_Type',
      'picklist',
      'Account Type',
      picklistGen(['Customer', 'Partner', 'Prospect', 'Vendor']),
      {
        picklist: ['Customer', 'Partner', 'Prospect', 'Vendor'],
      },
    ),
    f('Industry', 'picklist', 'Industry', picklistGen(INDUSTRIES), { picklist: INDUSTRIES }),
    // The one field whose CSV value does not always match its declared type (see the header comment).
    f('Employees', 'integer', 'Employees', (c) => {
      const r = c.rng();
      if (r % 9 === 0) return EMPLOYEE_RANGES[(r >>> 4) % EMPLOYEE_RANGES.length]!;
      return r % 7 === 0 ? '' : String((r >>> 3) % 50000);
    }),
    currencyField('Annual_Revenue', 'Annual Revenue', 100000000),
    f('Rating', 'picklist', 'Rating', picklistGen(RATINGS, 4), { picklist: RATINGS }),
    f(
      'SIC_Code',
      'integer',
      'SIC Code',
      sometimesEmpty(3, (c) => String(1000 + (c.rng() % 8999))),
    ),
    f('Ticker_Symbol', 'text', 'Ticker Symbol', (c) =>
      c.rng() % 2 === 0
        ? ''
        : String.fromCharCode(65 + (c.rng() % 26), 65 + (c.rng() % 26), 65 + (c.rng() % 26)),
    ),
    f(
      'External_Id__c',
      'bigint',
      'External Id',
      sometimesEmpty(6, (c) => `9${pad(c.rng() % 1000000000, 9)}${pad(c.rng() % 1000000000, 9)}`),
    ),
    f('Regions__c', 'multiselectpicklist', 'Regions', multiGen(REGIONS), { picklist: REGIONS }),
    f('Billing_Street', 'text', 'Billing Street', pick(STREET_E)),
    f('Billing_City', 'text', 'Billing City', pick(CITY_E), { length: 100 }),
    f('Billing_Country', 'text', 'Billing Country', pick(COUNTRY_E), { length: 100 }),
    descriptionField(),
    ...systemFields(),
  ];
}

const STAGES = [
  'Qualification',
  'Needs Analysis',
  'Value Proposition',
  'Proposal/Price Quote',
  'Negotiation/Review',
  'Closed Won',
  'Closed Lost',
];

function dealsFields(): FieldDef[] {
  return [
    idField(),
    ownerField('Deals'),
    f('Deal_Name', 'text', 'Deal Name', (c) => csvEscape(`${LAST[c.last]} – renewal #${c.n}`), {
      length: 120,
      mandatory: true,
    }),
    f('Deal_Number', 'autonumber', 'Deal Number', (c) => `DL-${1001 + c.n}`, {
      readOnly: true,
      autoNumber: { prefix: 'DL-', suffix: '', start: 1001 },
    }),
    currencyField('Amount', 'Amount', 10000000),
    f('Stage', 'picklist', 'Stage', pick(esc(STAGES)), { picklist: STAGES, mandatory: true }),
    f('Closing_Date', 'date', 'Closing Date', (c) => isoDate(BASE_TIME + (c.rng() % 730) * 86400000), {
      mandatory: true,
    }),
    lookupField('Account_Name', 'Account Name', 'Accounts'),
    lookupField('Contact_Name', 'Contact Name', 'Contacts'),
    f('Probability', 'percent', 'Probability (%)', (c) => String((c.rng() % 11) * 10)),
    currencyField('Expected_Revenue', 'Expected Revenue', 10000000, { readOnly: true }),
    f(
      'Margin__c',
      'formula',
      'Margin',
      formulaGen((c) => c.rng() % 1000000, 1000000, 2),
      {
        formulaReturn: 'double',
        decimalPlace: 2,
        readOnly: true,
      },
    ),
    f(
      'Discount_Rate__c',
      'decimal',
      'Discount Rate',
      sometimesEmpty(4, (c) => decimalText(c.rng() % 100000, 3)),
      { decimalPlace: 3 },
    ),
    f('Type', 'picklist', 'Type', picklistGen(['New Business', 'Existing Business']), {
      picklist: ['New Business', 'Existing Business'],
    }),
    f('Next_Step', 'text', 'Next Step', pick(NEXT_STEP_E), { length: 100 }),
    f('Lead_Source', 'picklist', 'Lead Source', picklistGen(LEAD_SOURCES), { picklist: LEAD_SOURCES }),
    lookupField('Campaign_Source', 'Campaign Source', 'Campaigns', 3),
    f('Is_Renewal__c', 'boolean', 'Is Renewal', (c) => (c.rng() % 3 === 0 ? 'true' : 'false')),
    descriptionField(),
    ...systemFields(),
  ];
}

const ACTIVITY_MODULES = new Set(['Tasks', 'Events', 'Calls']);

function genericFields(module: string): FieldDef[] {
  const nameField = ACTIVITY_MODULES.has(module)
    ? f('Subject', 'text', 'Subject', (c) => csvEscape(`Follow up with ${FIRST[c.first]}, ref ${c.n}`), {
        mandatory: true,
      })
    : f(
        'Name',
        'text',
        `${module.replace(/__[cs]$/, '').replace(/_/g, ' ')} Name`,
        (c) => csvEscape(`${FIRST[c.first]} ${LAST[c.last]}`),
        { length: 120, mandatory: true },
      );
  return [
    idField(),
    ownerField(module),
    nameField,
    f('Email', 'email', 'Email', emailGen),
    descriptionField(),
    ...systemFields(),
  ];
}

/**
 * A line-item row: its own id, `Parent_Id` (the parent record, from the store, not the PRNG), the
 * product, quantity and prices, and its own Created_Time / Modified_Time (Zoho's subform rows carry
 * them; no owner, no Created_By).
 */
function subformFields(parent: string): FieldDef[] {
  return [
    idField(),
    f('Parent_Id', 'lookup', 'Parent Id', (c) => c.parent, { lookupModule: parent, readOnly: true }),
    lookupField('Product_Name', 'Product Name', 'Products', 1_000_000),
    f('Quantity', 'double', 'Quantity', (c) => String(1 + (c.rng() % 40))),
    f('List_Price', 'currency', 'List Price', (c) => decimalText(100 + (c.rng() % 500000), 2)),
    f(
      'Discount',
      'currency',
      'Discount',
      sometimesEmpty(3, (c) => decimalText(c.rng() % 5000, 2)),
    ),
    f(
      'Description',
      'textarea',
      'Description',
      sometimesEmpty(2, (c) => csvEscape(`Line ${c.n}, ${FIRST[c.first]}`)),
    ),
    f('Created_Time', 'datetime', 'Created Time', (c) => orgDateTime(c.createdMs), { readOnly: true }),
    f('Modified_Time', 'datetime', 'Modified Time', (c) => orgDateTime(c.modifiedMs), { readOnly: true }),
  ];
}

/**
 * A linking module's record: its id, the two lookups (always set: a link joins two records, each one of
 * the first 1,000 of its module, so it exists in a default-sized store), and its own Created_Time and
 * Modified_Time. No owner: Zoho's linking modules are "accessible only via API" (Kaizen #199).
 */
function linkingFields(module: string): FieldDef[] {
  const link = ([apiName, target]: readonly [string, string]): FieldDef =>
    f(apiName, 'lookup', apiName, (c) => recordId(target, (c.rng() >>> 8) % 1000), {
      lookupModule: target,
      mandatory: true,
    });
  const [a, b] = LINKING_MODULES[module]!;
  return [
    idField(),
    link(a),
    link(b),
    f('Created_Time', 'datetime', 'Created Time', (c) => orgDateTime(c.createdMs), { readOnly: true }),
    f('Modified_Time', 'datetime', 'Modified Time', (c) => orgDateTime(c.modifiedMs), { readOnly: true }),
  ];
}

/**
 * A Deals stage-history row (DealHistory, Zoho's "Stage History" field tracker): the deal (`Deal_Name`,
 * a lookup holding the Deals record id, from the store), the stage the deal moved to and the amount,
 * probability and closing date it had then, who changed it and when. Row n is the (n mod 3)-th change
 * of its deal: Qualification, then Proposal/Price Quote, then Closed Won or Closed Lost.
 */
const HISTORY_STAGES: Array<{ stage: (c: RowCtx) => string; probability: (c: RowCtx) => string }> = [
  { stage: () => 'Qualification', probability: () => '10' },
  { stage: () => 'Proposal/Price Quote', probability: () => '75' },
  {
    stage: (c) => (c.rng() % 3 === 0 ? 'Closed Lost' : 'Closed Won'),
    probability: (c) => (c.rng() % 3 === 0 ? '0' : '100'),
  },
];
const historyStep = (c: RowCtx) => HISTORY_STAGES[c.n % ITEMS_PER_PARENT]!;

function dealHistoryFields(): FieldDef[] {
  return [
    idField(),
    f('Deal_Name', 'lookup', 'Deal Name', (c) => c.parent, { lookupModule: 'Deals', readOnly: true }),
    f('Stage', 'picklist', 'Stage', (c) => historyStep(c).stage(c), { picklist: STAGES, readOnly: true }),
    currencyField('Amount', 'Amount', 10000000, { readOnly: true }),
    f('Probability', 'percent', 'Probability (%)', (c) => historyStep(c).probability(c), {
      readOnly: true,
    }),
    f('Closing_Date', 'date', 'Closing Date', (c) => isoDate(BASE_TIME + (c.rng() % 730) * 86400000), {
      readOnly: true,
    }),
    f('Modified_By', 'ownerlookup', 'Modified By', ownerGen, { readOnly: true }),
    f('Created_Time', 'datetime', 'Created Time', (c) => orgDateTime(c.createdMs), { readOnly: true }),
    f('Modified_Time', 'datetime', 'Modified Time', (c) => orgDateTime(c.modifiedMs), { readOnly: true }),
  ];
}

/**
 * The multi-select lookup field on the first module of a linking module. Bulk Read's CSV form of it is
 * undocumented, so the fake takes the stricter reading: in the metadata, not exported (as a profile
 * image; Estuary drops the type from its exports too); its links are the linking module's rows.
 */
function multiLookupField(holder: string): FieldDef[] {
  return Object.entries(LINKING_MODULES).flatMap(
    ([linking, [[lookupField], [connectedField, connected]]]) => {
      if (LINKING_MODULES[linking]![0][1] !== holder) return [];
      const apiName = MULTI_LOOKUP_FIELD[linking]!;
      return [
        f(apiName, 'multiselectlookup', apiName.replace(/_/g, ' '), () => '', {
          exported: false,
          linking: { module: linking, lookupField, connectedField, connectedModule: connected },
        }),
      ];
    },
  );
}

// ---------------------------------------------------------------- schemas

export interface ModuleSchema {
  module: string;
  /** Every field, in the metadata's order (also the default CSV column order). */
  fields: FieldDef[];
  byName: Map<string, FieldDef>;
  /** Default CSV columns (no `fields` in the query): the exported fields, in metadata order. */
  defaultColumns: string[];
  /** The field whose raw value is the record's display name (deleted-records API). */
  displayName: (c: RowCtx) => string;
}

const SCHEMAS = new Map<string, ModuleSchema>();

export function schemaFor(module: string): ModuleSchema {
  let s = SCHEMAS.get(module);
  if (s) return s;
  const fields =
    module === 'Leads'
      ? [...leadsFields(), ...multiLookupField(module)]
      : module === 'Contacts'
        ? [...contactsFields(), ...multiLookupField(module)]
        : module === 'Accounts'
          ? accountsFields()
          : module === 'Deals'
            ? dealsFields()
            : SUBFORM_PARENTS[module]
              ? subformFields(SUBFORM_PARENTS[module])
              : LINKING_MODULES[module]
                ? linkingFields(module)
                : module === 'DealHistory'
                  ? dealHistoryFields()
                  : genericFields(module);
  const byName = new Map(fields.map((x) => [x.apiName, x]));
  const displayName = (c: RowCtx): string => {
    if (module === 'Accounts') {
      c.reseed(mix32(c.seed ^ hashString('Account_Name')));
      return ACCOUNT_NAMES[c.rng() % ACCOUNT_NAMES.length]!;
    }
    if (module === 'Deals') return `${LAST[c.last]} – renewal #${c.n}`;
    if (ACTIVITY_MODULES.has(module)) return `Follow up with ${FIRST[c.first]}, ref ${c.n}`;
    return `${FIRST[c.first]} ${LAST[c.last]}`;
  };
  s = {
    module,
    fields,
    byName,
    defaultColumns: fields.filter((x) => x.exported !== false).map((x) => x.apiName),
    displayName,
  };
  SCHEMAS.set(module, s);
  return s;
}

/** Header columns (without the padding column) for a module and optional requested fields. */
export function columnsFor(module: string | undefined, fields?: string[]): string[] {
  if (fields && fields.length > 0 && fields.length <= 200) {
    const cols = [...new Set(fields)];
    return cols.includes('id') ? cols : ['id', ...cols];
  }
  return schemaFor(module ?? 'Contacts').defaultColumns;
}

// ---------------------------------------------------------------- columns of a query

/** Sub-fields of users reachable with dot notation on an owner lookup (`Owner.last_name`). */
const USER_FIELDS: Record<string, (u: FakeUser) => string> = {
  id: (u) => u.id,
  first_name: (u) => csvEscape(u.first),
  last_name: (u) => csvEscape(u.last),
  full_name: (u) => csvEscape(`${u.first} ${u.last}`),
  email: (u) => u.email,
};

/** System fields outside the metadata that Zoho documents for `fields` (bulk read docs: `$converted`). */
const DOLLAR_FIELDS: Record<string, Record<string, Gen>> = {
  Leads: { $converted: (c) => (c.rng() % 4 === 0 ? 'true' : 'false') },
};

export interface Column {
  name: string;
  /** Seed of the field: the PRNG of a value is (record seed ^ field seed). */
  seed: number;
  gen: Gen;
}

const TARGET_CTX = new RowCtx();

/**
 * The generator of one requested column, or undefined when the module has no such field (the create
 * endpoint answers INVALID_DATA). Dot notation follows lookups one level: `Account_Name.Account_Name`
 * is the looked-up account's name, `Owner.last_name` the owner's last name.
 */
export function resolveColumn(module: string, name: string): Column | undefined {
  const schema = schemaFor(module);
  const seed = hashString(name);
  const direct = schema.byName.get(name);
  if (direct) return direct.exported === false ? undefined : { name, seed, gen: direct.gen };
  const dollar = DOLLAR_FIELDS[module]?.[name];
  if (dollar) return { name, seed, gen: dollar };
  const dot = name.indexOf('.');
  if (dot <= 0) return undefined;
  const baseName = name.slice(0, dot);
  const sub = name.slice(dot + 1);
  const base = schema.byName.get(baseName);
  if (!base) return undefined;
  const baseSeed = hashString(baseName);
  if (base.dataType === 'ownerlookup') {
    const uf = USER_FIELDS[sub];
    if (!uf) return undefined;
    return {
      name,
      seed: baseSeed,
      gen: (c) => uf(USERS[ownerIndex(c)]!),
    };
  }
  if (base.dataType !== 'lookup' || !base.lookupModule) return undefined;
  const target = base.lookupModule;
  const targetField = schemaFor(target).byName.get(sub);
  if (!targetField || targetField.exported === false) return undefined;
  const emptyEvery = base.lookupEmptyEvery ?? 8;
  const targetSalt = moduleSalt(target);
  const targetSeed = hashString(sub);
  return {
    name,
    // The PRNG is the base field's, so the looked-up record is the one the base column names.
    seed: baseSeed,
    gen: (c) => {
      const k = lookupIndex(c, emptyEvery);
      if (k < 0) return '';
      const t = TARGET_CTX;
      t.setRecord(targetSalt, k, 0);
      t.id = recordId(target, k);
      const times = implicitTimes(targetSalt, k);
      t.createdMs = times.createdMs;
      t.modifiedMs = times.modifiedMs;
      t.reseed(mix32(t.seed ^ targetSeed));
      return targetField.gen(t);
    },
  };
}

/** Column of a seeded job's field the module does not have: short deterministic text, sometimes empty. */
export function genericColumn(name: string): Column {
  const lower = name.toLowerCase();
  return {
    name,
    seed: hashString(name),
    gen: (c) => (c.rng() % 7 === 0 ? '' : `${lower}-${c.rng() % 100000}`),
  };
}

/**
 * Created_Time / Modified_Time of a record that was never modified: records are created 37 s apart from
 * 2021-01-01, and modified up to a day after their creation.
 */
export function implicitTimes(salt: number, n: number): { createdMs: number; modifiedMs: number } {
  const createdMs = BASE_TIME + n * 37_000;
  const modifiedMs = createdMs + (mix32(salt ^ Math.imul(n + 1, 0x27d4eb2f)) % 86400) * 1000;
  return { createdMs, modifiedMs };
}

export function userName(id: string): string | undefined {
  const u = USERS.find((x) => x.id === id);
  return u ? `${u.first} ${u.last}` : undefined;
}
