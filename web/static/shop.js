/* The demo shop's own script: a cart kept in localStorage. Nothing here knows livedesk. */
(function () {
  "use strict";
  var KEY = "zentra.cart";
  function read() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (err) { return []; }
  }
  function write(items) { localStorage.setItem(KEY, JSON.stringify(items)); }
  function $(id) { return document.getElementById(id); }
  function render() {
    var items = read();
    $("cart-count").textContent = String(items.length);
    var lines = $("cart-lines");
    if (!lines) return;
    lines.textContent = "";
    items.forEach(function (item) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = item.name;
      var price = document.createElement("span");
      price.textContent = item.price;
      li.appendChild(name);
      li.appendChild(price);
      lines.appendChild(li);
    });
    $("cart-empty").hidden = items.length > 0;
  }
  document.addEventListener("DOMContentLoaded", function () {
    render();
    var add = $("add-to-cart");
    if (add) {
      add.addEventListener("click", function () {
        var items = read();
        items.push({ name: "Trail tent, 2 person", price: "€ 189.00" });
        write(items);
        render();
        $("added").hidden = false;
      });
    }
    var form = $("checkout");
    if (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        $("ordered").hidden = false;
      });
    }
  });
})();
