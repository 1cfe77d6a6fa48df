// The Svelte 5 page of test/frameworks.browser.test.js.
import { mount } from 'svelte';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import App from './App.svelte';

const client = createClient({ transport: httpTransport({ baseUrl: '/api/mizan' }), staleTime: 60_000 });
client.start();
window.__renders = {};
mount(App, { target: document.getElementById('root'), props: { client } });
