/* The service desk's keyboard and lookups: plain JS, no framework.
   Queues: j/k move between rows, Enter opens. Fast form: Enter in waybill/phone looks up, Ctrl+Enter saves.
   Ticket page: Ctrl+Enter sends the form being typed in; canned replies and KB search insert into the reply. */
(function () {
  "use strict";

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      });
  }

  function insertAtCursor(textarea, text) {
    if (!textarea) { return; }
    var start = textarea.selectionStart || 0, end = textarea.selectionEnd || 0, value = textarea.value;
    textarea.value = value.slice(0, start) + text + value.slice(end);
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
    textarea.focus();
  }

  /* --- queues: j/k/Enter ------------------------------------------------------------------------- */
  function setupQueues() {
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.tk-queue tr.tk-row"));
    if (!rows.length) { return; }
    rows.forEach(function (row) {
      row.addEventListener("click", function (event) {
        if (event.target.closest("a, button, form")) { return; }
        window.location.href = row.getAttribute("data-href");
      });
    });
    document.addEventListener("keydown", function (event) {
      if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
      var index = rows.indexOf(document.activeElement);
      if (event.key === "j" || event.key === "k") {
        var next = event.key === "j" ? Math.min(index + 1, rows.length - 1) : Math.max(index - 1, 0);
        if (index < 0) { next = 0; }
        rows[next].focus();
        event.preventDefault();
      } else if (event.key === "Enter" && index >= 0) {
        window.location.href = rows[index].getAttribute("data-href");
        event.preventDefault();
      }
    });
  }

  /* --- the fast intake form ---------------------------------------------------------------------- */
  function setupIntake() {
    var form = document.getElementById("tk-intake");
    if (!form) { return; }
    var result = document.getElementById("tk-lookup-result");
    var waybill = document.getElementById("tk-waybill");
    var customerId = document.getElementById("tk-customer-id");
    var customerLabel = document.getElementById("tk-customer-label");
    var customerLabelInput = document.getElementById("tk-customer-label-input");
    var msg = function (name) { return form.getAttribute("data-msg-" + name) || ""; };

    function chooseCustomer(id, name) {
      customerId.value = id || "";
      customerLabel.textContent = name || "—";
      customerLabelInput.value = name || "";
    }

    function show(data) {
      result.textContent = "";
      if (data.open_ticket) {
        var warning = el("div", { "class": "alert alert-warning tk-open-ticket" });
        var text = msg("open-ticket").split("{number}");
        warning.appendChild(document.createTextNode(text[0]));
        warning.appendChild(el("a", { href: data.open_ticket.url }, data.open_ticket.number));
        warning.appendChild(document.createTextNode(text[1] || ""));
        result.appendChild(warning);
      }
      (data.shipments || []).forEach(function (shipment) {
        var line = el("div", { "class": "tk-hit" }, msg("shipment") + " " + shipment.waybill_no + " · " +
                      (shipment.customer || "") + " · " + (shipment.receiver || "") + " ");
        var use = el("button", { type: "button", "class": "btn btn-xs btn-default" }, msg("pick"));
        use.addEventListener("click", function () {
          waybill.value = shipment.waybill_no;
          if (shipment.customer_id) { chooseCustomer(shipment.customer_id, shipment.customer); }
        });
        line.appendChild(use);
        result.appendChild(line);
      });
      (data.customers || []).forEach(function (customer) {
        var line = el("div", { "class": "tk-hit" }, msg("customer") + " " + customer.name + " ");
        var use = el("button", { type: "button", "class": "btn btn-xs btn-default" }, msg("pick"));
        use.addEventListener("click", function () { chooseCustomer(customer.id, customer.name); });
        line.appendChild(use);
        result.appendChild(line);
      });
      if (!(data.shipments || []).length && !(data.customers || []).length) {
        result.appendChild(el("div", { "class": "text-muted" }, msg("none")));
      }
      // one parcel, or one customer: take it without a click
      if ((data.shipments || []).length === 1 && data.shipments[0].customer_id) {
        chooseCustomer(data.shipments[0].customer_id, data.shipments[0].customer);
      } else if (!(data.shipments || []).length && (data.customers || []).length === 1) {
        chooseCustomer(data.customers[0].id, data.customers[0].name);
      }
    }

    function lookup(kind, value) {
      if (!value.trim()) { return; }
      var url = form.getAttribute("data-lookup-url") + "?" + kind + "=" + encodeURIComponent(value.trim());
      getJSON(url).then(show).catch(function () {
        result.textContent = "";
        result.appendChild(el("div", { "class": "text-danger" }, msg("failed")));
      });
    }

    Array.prototype.forEach.call(form.querySelectorAll("[data-lookup]"), function (input) {
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
          event.preventDefault();
          lookup(input.getAttribute("data-lookup"), input.value);
        }
      });
    });

    var type = document.getElementById("tk-type");
    var categoryGroup = document.getElementById("tk-category-group");
    function toggleCategory() {
      var types = (categoryGroup.getAttribute("data-types") || "").split(",");
      categoryGroup.style.display = types.indexOf(type.value) >= 0 ? "" : "none";
    }
    type.addEventListener("change", toggleCategory);
    toggleCategory();
  }

  /* --- Ctrl+Enter submits the form being typed in ------------------------------------------------ */
  function setupCtrlEnter() {
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) { return; }
      var form = event.target && event.target.closest && event.target.closest("form");
      if (!form) { return; }
      event.preventDefault();
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    });
  }

  /* --- ticket page: canned replies and knowledge base ------------------------------------------- */
  function setupTicketPage() {
    var page = document.getElementById("tk-ticket");
    if (!page) { return; }
    var reply = document.getElementById("tk-reply-body");
    var canned = document.getElementById("tk-canned");
    if (canned && reply) {
      getJSON(page.getAttribute("data-kb-replies-url")).then(function (replies) {
        (replies || []).forEach(function (item) {
          var option = el("option", { value: String(item.id) }, item.title);
          option.dataset.text = item.text || "";
          canned.appendChild(option);
        });
      }).catch(function () { canned.disabled = true; });
      canned.addEventListener("change", function () {
        var option = canned.options[canned.selectedIndex];
        if (option && option.dataset.text) { insertAtCursor(reply, option.dataset.text); }
        canned.selectedIndex = 0;
      });
    }
    Array.prototype.forEach.call(page.querySelectorAll("[data-insert-text]"), function (button) {
      button.addEventListener("click", function () { insertAtCursor(reply, button.getAttribute("data-insert-text")); });
    });
    var query = document.getElementById("tk-kb-q");
    var results = document.getElementById("tk-kb-results");
    if (query && results) {
      query.addEventListener("keydown", function (event) {
        if (event.key !== "Enter") { return; }
        event.preventDefault();
        var url = page.getAttribute("data-kb-search-url") + "?q=" + encodeURIComponent(query.value.trim());
        getJSON(url).then(function (found) {
          var items = Array.isArray(found) ? found : (found.result || found.articles || []);
          results.textContent = "";
          if (!items.length) { results.appendChild(el("div", { "class": "text-muted" }, page.getAttribute("data-msg-none"))); }
          items.forEach(function (item) {
            var text = item.text || item.excerpt || "";
            var hit = el("div", { "class": "tk-hit" });
            if (item.url) {
              hit.appendChild(el("a", { href: item.url, target: "_blank", rel: "noopener" }, item.title || ""));
            } else {
              hit.appendChild(el("strong", {}, item.title || ""));
            }
            hit.appendChild(el("div", { "class": "small" }, text.length > 300 ? text.slice(0, 300) + "…" : text));
            var use = el("button", { type: "button", "class": "btn btn-xs btn-default" }, page.getAttribute("data-msg-insert"));
            use.addEventListener("click", function () { insertAtCursor(reply, text); });
            hit.appendChild(use);
            results.appendChild(hit);
          });
        }).catch(function () { results.textContent = ""; });
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupQueues();
    setupIntake();
    setupCtrlEnter();
    setupTicketPage();
  });
}());
