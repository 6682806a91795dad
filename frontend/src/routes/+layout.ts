// A single-page app: leaf serves index.html for every route and the browser renders it.
export const ssr = false;
export const prerender = false;
