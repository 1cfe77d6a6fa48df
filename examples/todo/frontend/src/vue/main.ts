import { createApp, h } from 'vue';
import { MizanContext } from '../api/vue.js';
import { makeClient } from '../client.js';
import App from './App.vue';
import '../style.css';

const client = makeClient();

createApp({ render: () => h(MizanContext, { client }, { default: () => h(App, { client }) }) }).mount('#app');
